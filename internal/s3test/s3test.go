// Package s3test starts a real S3-compatible server for tests: versitygw
// with its posix backend, on 127.0.0.1. The binary comes from
// $ASYNC_VERSITYGW, else the tools cache `make tools` builds it into
// ($ASYNC_TOOLS, by default ~/.cache/async-tools, then
// versitygw-VERSION/versitygw), else PATH. Without it tests skip with one
// line, and fail under CI=true.
package s3test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/async-sync/async/internal/testnet"
)

// Version is the versitygw release the tests run against.
const Version = "v1.8.0"

// T is what Start needs of a test (testing.TB has it).
type T = testnet.T

// Server is a running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Root      string // the posix backend's directory: bucket/key files
}

// Binary finds versitygw. The error says how to get it.
func Binary() (string, error) {
	if p := os.Getenv("ASYNC_VERSITYGW"); p != "" {
		return p, nil
	}
	if p := CachePath(); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("versitygw %s not found: run make tools (it builds it into %s), or set ASYNC_VERSITYGW", Version, CachePath())
}

// CachePath is where `make tools` puts versitygw:
// ${ASYNC_TOOLS:-$HOME/.cache/async-tools}/versitygw-VERSION/versitygw
// ("" without either variable).
func CachePath() string {
	dir := os.Getenv("ASYNC_TOOLS")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".cache", "async-tools")
	}
	return filepath.Join(dir, "versitygw-"+Version, "versitygw")
}

// Require skips the test (one line; under CI=true it fails) when
// versitygw cannot be found. Start calls it; a test that shares one server
// between tests calls it before starting it.
func Require(t T) {
	t.Helper()
	if _, err := Binary(); err != nil {
		testnet.Missing(t, err.Error())
	}
}

// Start starts versitygw for the test; it stops when the test ends.
func Start(t T) *Server { return StartIn(t, "") }

// StartIn is Start with the store's files in a fresh directory under dir
// (benchmarks put them in memory).
func StartIn(t T, dir string) *Server {
	t.Helper()
	Require(t)
	bin, _ := Binary()
	root, err := os.MkdirTemp(dir, "async-s3-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(root) })
	s := &Server{AccessKey: "asynctest", SecretKey: testnet.RandomHex(16), Root: root}
	for range 5 {
		port := testnet.FreePort(t)
		addr := "127.0.0.1:" + strconv.Itoa(port)
		cmd := exec.Command(bin, "--port", addr, "--quiet", "posix", root)
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKey, "ROOT_SECRET_KEY="+s.SecretKey)
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatalf("versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		if waitListening(cmd.Process.Pid, port, exited) {
			t.Cleanup(func() { cmd.Process.Kill(); <-exited })
			s.Endpoint = "http://" + addr
			return s
		}
		cmd.Process.Kill()
		<-exited
	}
	t.Fatal("versitygw did not start")
	return nil
}

// waitListening waits for process pid to listen on 127.0.0.1:port and
// answer HTTP there. Its own listener is looked for, not a connection:
// another test process may have taken the same free port.
func waitListening(pid, port int, exited chan struct{}) bool {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		if testnet.Listens(pid, port) {
			resp, err := http.Get("http://" + addr + "/")
			if err == nil {
				resp.Body.Close()
				return true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// Client is an S3 client for the server (built explicitly: no ambient
// AWS settings).
func (s *Server) Client() *s3.Client {
	return s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
}

// Bucket creates a new bucket with a unique name and returns it.
func (s *Server) Bucket(t T) string {
	t.Helper()
	name := "b-" + testnet.RandomHex(6)
	if _, err := s.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	return name
}

// Env is the environment that gives async the server's credentials.
func (s *Server) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=" + s.AccessKey, "AWS_SECRET_ACCESS_KEY=" + s.SecretKey, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_EC2_METADATA_DISABLED=true"}
}
