package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/async-sync/async/internal/s3test"
)

// s3Counter is a reverse proxy before the S3 server that counts the
// HEADs of objects and the listings async sends.
type s3Counter struct {
	endpoint     string
	heads, lists atomic.Int64
}

func countS3(t *testing.T, s *s3test.Server) *s3Counter {
	t.Helper()
	target, err := url.Parse(s.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	c := &s3Counter{}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // what the request was signed for
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/") // path style: /BUCKET/KEY
		switch {
		case r.Method == http.MethodHead && key != "": // an object's, not the bucket's
			c.heads.Add(1)
		case r.Method == http.MethodGet && r.URL.Query().Has("list-type"):
			c.lists.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	c.endpoint = srv.URL
	return c
}

func (c *s3Counter) url(bucket, prefix string) string {
	return "s3://" + bucket + "/" + prefix + "?endpoint=" + c.endpoint + "&path_style=true"
}

func (c *s3Counter) reset() { c.heads.Store(0); c.lists.Store(0) }

// streamTree has names whose key order is not their path order.
var streamTree = tree{"a.b": "1", "a-": "2", "a b": "3", "a/b": "4", "a/c.d": "5", "a/c/d": "6", "a/c-/e": "7",
	"a0": "8", "x/y z/f": "9", "é/e": "10"}

// TestS3StreamedResync: a bucket side streams through the join in
// path order (push, pull, bidi): a resync that changes nothing asks for no
// object's metadata, and the plan after changes on both sides is the one
// made from the bucket listed whole.
func TestS3StreamedResync(t *testing.T) {
	t.Parallel()
	s := s3Server(t)
	for _, dir := range []string{"push", "pull", "bidi"} {
		t.Run(dir, func(t *testing.T) {
			c := countS3(t, s)
			state, local := t.TempDir(), t.TempDir()
			bucket := s.Bucket(t)
			env := s.Env()
			args := []string{"-N", "st", "-d", local, "-r", c.url(bucket, "tree"), "-t", "-K", dir}
			if dir == "pull" {
				seed := t.TempDir()
				writeTree(t, seed, streamTree)
				mustCode(t, sshRun(t, state, env, "-N", "seed", "-d", seed, "-r", c.url(bucket, "tree"), "-t"), 0)
			} else {
				writeTree(t, local, streamTree)
			}
			mustCode(t, sshRun(t, state, env, args...), 0)
			c.reset()
			r := sshRun(t, state, env, args...)
			mustCode(t, r, 0)
			if !strings.Contains(r.stderr, " 0 files (0 B) transferred") {
				t.Errorf("a resync transferred something:\n%s", r.stderr)
			}
			// A push asks whether the destination's root is empty: one
			// listing of the root, one HEAD of its first file.
			want := int64(0)
			if dir == "push" {
				want = 1
			}
			if h := c.heads.Load(); h != want {
				t.Errorf("a resync that changes nothing: %d HEADs, want %d (%d listings)", h, want, c.lists.Load())
			}

			// Changes on both sides: an object put by another program
			// (no metadata: asked for), a local file changed and added.
			for key, body := range map[string]string{"tree/a b": "changed in the bucket", "tree/a-x/new": "new in the bucket"} {
				if _, err := s.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
					Body: strings.NewReader(body)}); err != nil {
					t.Fatal(err)
				}
			}
			writeTree(t, local, tree{"a.b": "changed locally", "a/new": "new locally"})
			plan := append(args, "--dry-run", "--plan-format=json")
			c.reset()
			streamed := sshRun(t, state, env, plan...)
			mustCode(t, streamed, 0)
			if h := c.heads.Load(); dir != "push" && h != 2 {
				t.Errorf("after changes: %d HEADs, want 2 (the objects put by another program)", h)
			}
			whole := sshRun(t, state, append(env, unorderedEnv+"=1"), plan...)
			mustCode(t, whole, 0)
			if streamed.stdout != whole.stdout {
				t.Errorf("streamed plan:\n%s\nwhole listing's plan:\n%s", streamed.stdout, whole.stdout)
			}
			if changed := `"path": "/a b"`; dir != "push" && !strings.Contains(streamed.stdout, changed) {
				t.Errorf("the plan lacks %s:\n%s", changed, streamed.stdout)
			}
			if changed := `"path": "/a.b"`; dir != "pull" && !strings.Contains(streamed.stdout, changed) {
				t.Errorf("the plan lacks %s:\n%s", changed, streamed.stdout)
			}
			mustCode(t, sshRun(t, state, env, args...), 0)
			c.reset()
			mustCode(t, sshRun(t, state, env, args...), 0)
			if h := c.heads.Load(); h != want {
				t.Errorf("after the sync, a resync that changes nothing: %d HEADs, want %d", h, want)
			}
			if dir != "push" {
				back := t.TempDir()
				mustCode(t, sshRun(t, state, env, "-N", "back", "-d", back, "-r", c.url(bucket, "tree"), "-K", "pull"), 0)
				if _, err := os.Stat(filepath.Join(back, "a-x", "new")); err != nil {
					t.Errorf("the bucket's new object: %v", err)
				}
				if dir == "bidi" {
					equalTrees(t, readTree(t, back), readTree(t, local))
				}
			}
		})
	}
}
