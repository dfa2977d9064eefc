package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/async-sync/async/internal/s3test"
)

var (
	s3Once sync.Once
	s3srv  *s3test.Server
)

// s3Server is the package's versitygw on 127.0.0.1.
func s3Server(t *testing.T) *s3test.Server {
	t.Helper()
	s3test.Require(t)
	s3Once.Do(func() { s3srv = s3test.Start(lasting{t}) })
	if s3srv == nil {
		t.Fatal("versitygw did not start")
	}
	return s3srv
}

func s3URL(s *s3test.Server, bucket, prefix string) string {
	return fmt.Sprintf("s3://%s/%s?endpoint=%s&path_style=true", bucket, prefix, s.Endpoint)
}

func TestS3PushPullAndBucketToBucket(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	state, src := t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	bucket := s.Bucket(t)
	env := s.Env()
	push := []string{"-N", "up", "-d", src, "-r", s3URL(s, bucket, "backup"), "-t"}
	r := sshRun(t, state, env, push...)
	mustCode(t, r, 0)
	r = sshRun(t, state, env, push...)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, " 0 files (0 B) transferred") || r.stdout != "" {
		t.Errorf("second run transferred something:\n%s%s", r.stdout, r.stderr)
	}
	// The objects are there, with their mtime in metadata.
	out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("backup/docs/report.txt")})
	if err != nil || out.Metadata["async-mtime"] == "" {
		t.Errorf("head: %v %v", err, out)
	}
	// The snapshot is local, not in the bucket.
	if _, err := os.Stat(stateSnap(t, state, "up", "remote")); err != nil {
		t.Errorf("no local snapshot of the bucket side: %v", err)
	}
	// Changes propagate, then pull into a fresh directory: trees equal, mtimes too.
	writeTree(t, src, tree{"a.txt": "alpha v2", "new/f": "n"})
	os.RemoveAll(filepath.Join(src, "docs", "deep"))
	mustCode(t, sshRun(t, state, env, push...), 0)
	back := t.TempDir()
	mustCode(t, sshRun(t, state, env, "-N", "down", "-d", back, "-r", s3URL(s, bucket, "backup"), "-K", "pull", "-t"), 0)
	equalTrees(t, readTree(t, back), readTree(t, src))
	for _, p := range []string{"a.txt", "new/f", "with space/ünïcødé.txt"} {
		a, _ := os.Stat(filepath.Join(src, p))
		b, _ := os.Stat(filepath.Join(back, p))
		if a == nil || b == nil || !a.ModTime().Equal(b.ModTime()) {
			t.Errorf("%s: mtime not preserved through the bucket", p)
		}
	}
	// Bucket to bucket.
	other := s.Bucket(t)
	mustCode(t, sshRun(t, state, env, "-N", "b2b", "-d", s3URL(s, bucket, "backup"), "-r", s3URL(s, other, ""), "-t"), 0)
	back2 := t.TempDir()
	mustCode(t, sshRun(t, state, env, "-N", "down2", "-d", back2, "-r", s3URL(s, other, ""), "-K", "pull", "-t"), 0)
	equalTrees(t, readTree(t, back2), readTree(t, src))
}

func TestS3LargeFileGoesMultipart(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	state, src := t.TempDir(), t.TempDir()
	big := make([]byte, 40<<20+3)
	for i := range big {
		big[i] = byte(i>>12 + i)
	}
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	bucket := s.Bucket(t)
	mustCode(t, sshRun(t, state, s.Env(), "-N", "mp", "-d", src, "-r", s3URL(s, bucket, "")), 0)
	out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(aws.ToString(out.ETag), "-") {
		t.Errorf("ETag %s is not a multipart upload's", aws.ToString(out.ETag))
	}
	obj, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	if string(got) != string(big) {
		t.Errorf("content differs after a multipart upload")
	}
}

func TestS3FailuresAreOneLine(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	src := t.TempDir()
	writeTree(t, src, tree{"f": "x"})
	bucket := s.Bucket(t)
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	bad := append(s.Env(), "AWS_SECRET_ACCESS_KEY=wrong")
	cases := []struct {
		name string
		env  []string
		args []string
		code int
		want string
	}{
		{"wrong credentials", bad, []string{"-r", s3URL(s, bucket, "")}, 1, "access denied"},
		{"missing bucket", s.Env(), []string{"-r", s3URL(s, "no-such-bucket", "")}, 1, "does not exist"},
		{"unreachable endpoint", s.Env(), []string{"-r", "s3://" + bucket + "/?endpoint=http://" + dead + "&path_style=true"}, 1, "cannot reach"},
		{"-B in a bucket", s.Env(), []string{"-r", s3URL(s, bucket, ""), "-B", "s3://" + bucket + "/db"}, 2, "option -B"},
		{"-L in a bucket", s.Env(), []string{"-r", s3URL(s, bucket, ""), "-L", "s3://" + bucket + "/log"}, 2, "option -L"},
		{"secret in the URL", s.Env(), []string{"-r", s3URL(s, bucket, "") + "&secret_key=x"}, 2, "credential"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"-N", "f", "-d", src}, c.args...)
			if c.name == "-L in a bucket" {
				args = append([]string{c.args[2], c.args[3]}, args[:len(args)-2]...)
			}
			start := time.Now()
			r := sshRun(t, t.TempDir(), c.env, args...)
			if r.code != c.code {
				t.Fatalf("exit %d, want %d\nstdout:%s\nstderr:%s", r.code, c.code, r.stdout, r.stderr)
			}
			msg := strings.TrimSpace(r.stderr)
			if strings.Count(msg, "\n") != 0 || !strings.Contains(msg, c.want) {
				t.Errorf("stderr = %q, want one line with %q", msg, c.want)
			}
			if time.Since(start) > 30*time.Second {
				t.Errorf("took %v", time.Since(start))
			}
		})
	}
}

func TestS3InterruptedMultipartUploadResumes(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	state, src := t.TempDir(), t.TempDir()
	content := make([]byte, 48<<20)
	for i := range content {
		content[i] = byte(i*13 + i>>9)
	}
	os.WriteFile(filepath.Join(src, "big"), content, 0o644)
	bucket := s.Bucket(t)
	args := []string{"-N", "mr", "-d", src, "-r", s3URL(s, bucket, "p"), "--support-resume=1m"}
	// 48 MiB at 64 Mbit/s takes 6 s; parts are 16 MiB: killed as soon as
	// the server holds a part (a busy machine starts slowly, so the
	// server is asked rather than a clock), one or two parts are up.
	// SIGKILL: nothing is tidied on the way out.
	cmd := exec.Command(asyncBin, append(args, "-l", "64m")...)
	cmd.Env = append(append(os.Environ(), "XDG_STATE_HOME="+state), s.Env()...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	partUp := func() bool {
		ups, err := s.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
		if err != nil || len(ups.Uploads) == 0 {
			return false
		}
		parts, err := s.Client().ListParts(context.Background(), &s3.ListPartsInput{Bucket: aws.String(bucket), Key: ups.Uploads[0].Key, UploadId: ups.Uploads[0].UploadId})
		return err == nil && len(parts.Parts) > 0
	}
	for deadline := time.Now().Add(60 * time.Second); !partUp(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("no part was uploaded in 60 s")
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("p/big")}); err == nil {
		t.Fatal("the interrupted upload is visible")
	}
	r := sshRun(t, state, s.Env(), args...)
	mustCode(t, r, 0)
	obj, err := s.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("p/big")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(obj.Body)
	if !bytes.Equal(got, content) {
		t.Fatalf("resumed object differs (%d bytes)", len(got))
	}
	for _, sent := range []string{"(16.0 MiB) transferred", "(32.0 MiB) transferred"} {
		if strings.Contains(r.stderr, sent) {
			return // resumed after one or two whole parts
		}
	}
	t.Errorf("the rerun did not continue the upload: %s", r.stderr)
}

func TestGocloudFileBucket(t *testing.T) {
	t.Parallel()
	state, src, store := t.TempDir(), t.TempDir(), t.TempDir()
	writeTree(t, src, sample)
	url := "blob+file://" + store + "?prefix=tree/"
	args := []string{"-N", "gc", "-d", src, "-r", url, "-t"}
	mustCode(t, sshRun(t, state, nil, args...), 0)
	r := sshRun(t, state, nil, args...)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, " 0 files (0 B) transferred") {
		t.Errorf("second run transferred something:\n%s", r.stderr)
	}
	back := t.TempDir()
	mustCode(t, sshRun(t, state, nil, "-N", "gcb", "-d", back, "-r", url, "-K", "pull", "-t"), 0)
	equalTrees(t, readTree(t, back), readTree(t, src))
}

// TestStateInsideTheTreeIsLeftOut syncs a home directory whose async state
// (the bucket side's snapshot, the log) lies inside it: async must not
// sync its own database while writing it.
func TestStateInsideTheTreeIsLeftOut(t *testing.T) {
	t.Parallel()
	home, store := t.TempDir(), t.TempDir()
	writeTree(t, home, tree{"docs/a": "a"})
	state := filepath.Join(home, ".local", "state")
	url := "blob+file://" + store
	mustCode(t, sshRun(t, state, nil, "-N", "home", "-d", home, "-r", url), 0)
	r := sshRun(t, state, nil, "-N", "home", "-d", home, "-r", url)
	mustCode(t, r, 0)
	if !strings.Contains(r.stderr, " 0 files (0 B) transferred") {
		t.Errorf("second run transferred something:\n%s%s", r.stdout, r.stderr)
	}
	if _, err := os.Stat(filepath.Join(store, ".local", "state", "async")); err == nil {
		t.Errorf("async's own state was synchronized")
	}
}

func TestS3Tags(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	state, src := t.TempDir(), t.TempDir()
	writeTree(t, src, tree{"f": "x"})
	bucket := s.Bucket(t)
	mustCode(t, sshRun(t, state, s.Env(), "-N", "tg", "-d", src, "-r", s3URL(s, bucket, ""), "--tags", `{"project": "apollo", "Owner": "ops"}`), 0)
	out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("f")})
	if err != nil {
		t.Fatal(err)
	}
	if m := lowerKeys(out.Metadata); m["project"] != "apollo" || m["owner"] != "ops" || m["async-mtime"] == "" {
		t.Errorf("metadata %v", out.Metadata)
	}
	for _, bad := range []string{`{"project":`, `{"async-mtime": "1"}`, `{"a b": "c"}`} {
		r := sshRun(t, state, s.Env(), "-N", "tg2", "-d", src, "-r", s3URL(s, bucket, ""), "--tags", bad)
		if r.code != 2 || !strings.Contains(r.stderr, "--tags") {
			t.Errorf("--tags %s: exit %d %s", bad, r.code, r.stderr)
		}
	}
}

func lowerKeys(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		out[strings.ToLower(k)] = v
	}
	return out
}

func TestS3KeepsSHA256WithChecksumSHA256(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	state, src := t.TempDir(), t.TempDir()
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	os.WriteFile(filepath.Join(src, "big"), big, 0o644)
	writeTree(t, src, tree{"small": "s"})
	bucket := s.Bucket(t)
	mustCode(t, sshRun(t, state, s.Env(), "-N", "ck", "-d", src, "-r", s3URL(s, bucket, ""), "-k", "sha256"), 0)
	for _, key := range []string{"small", "big"} {
		out, err := s.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			ChecksumMode: types.ChecksumModeEnabled})
		if err != nil {
			t.Fatal(err)
		}
		if aws.ToString(out.ChecksumSHA256) == "" {
			t.Errorf("%s: no SHA-256 checksum kept", key)
		}
	}
}
