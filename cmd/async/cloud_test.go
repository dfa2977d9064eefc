package main

import (
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCloudDriversLeftOut: the async binary does not link gocloud's GCS and
// Azure drivers, whose package initialisation would slow every start; the
// plugin programs async-backend-gs and async-backend-azblob do.
func TestCloudDriversLeftOut(t *testing.T) {
	for _, c := range []struct {
		pkg  string
		want bool
	}{{".", false}, {"../async-backend-gs", true}, {"../async-backend-azblob", true}} {
		out, err := exec.Command("go", "list", "-deps", c.pkg).CombinedOutput()
		if err != nil {
			t.Fatalf("go list -deps %s: %v\n%s", c.pkg, err, out)
		}
		deps := string(out)
		has := strings.Contains(deps, "gocloud.dev/blob/gcsblob\n") || strings.Contains(deps, "gocloud.dev/blob/azureblob\n")
		if has != c.want {
			t.Errorf("%s links a cloud driver: %v, want %v", c.pkg, has, c.want)
		}
	}
}

// TestCloudSchemeNeedsItsPlugin: a gs:// endpoint without async-backend-gs
// installed fails with one line saying what to install.
func TestCloudSchemeNeedsItsPlugin(t *testing.T) {
	state, src, home := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	r := sshRun(t, state, []string{"HOME=" + home, "ASYNC_PLUGIN_DIR="}, "-N", "gs", "-d", src, "-r", "gs://some-bucket/data", "-t")
	mustCode(t, r, exitFailed)
	if !strings.Contains(r.stderr, "option -r: gs:// buckets are served by async-backend-gs") {
		t.Errorf("stderr does not say what to install:\n%s", r.stderr)
	}
}

// TestCloudSchemeRunsItsPlugin: an azblob:// endpoint is served by
// async-backend-azblob from the plugin directories; here its driver talks to
// a closed port on loopback, and its error reaches the user.
func TestCloudSchemeRunsItsPlugin(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "async-backend-azblob"), "../async-backend-azblob").CombinedOutput(); err != nil {
		t.Fatalf("build async-backend-azblob: %v\n%s", err, out)
	}
	state, src, home := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	env := []string{"HOME=" + home, "AZURE_STORAGE_ACCOUNT=devacct", "AZURE_STORAGE_KEY=" + base64.StdEncoding.EncodeToString([]byte("key"))}
	r := sshRun(t, state, env, "--plugin-dir", dir, "-N", "az", "-d", src, "-r", "azblob://cont?localemu=true&domain=127.0.0.1:1&protocol=http", "-t")
	mustCode(t, r, exitFailed)
	if !strings.Contains(r.stderr, "async-backend-azblob") || !strings.Contains(r.stderr, "127.0.0.1:1") {
		t.Errorf("stderr does not show the plugin's driver at work:\n%s", r.stderr)
	}
}

// TestMemProfile: $ASYNC_MEMPROFILE makes a run write a heap profile (a
// gzipped protocol buffer) for benchmarks.
func TestMemProfile(t *testing.T) {
	state, src, dst := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	prof := filepath.Join(t.TempDir(), "heap.pb.gz")
	mustCode(t, sshRun(t, state, []string{"ASYNC_MEMPROFILE=" + prof}, "-N", "mp", "-d", src, "-r", dst, "-t"), 0)
	b, err := os.ReadFile(prof)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
		t.Errorf("%s is not a gzipped profile (%d bytes)", prof, len(b))
	}
}
