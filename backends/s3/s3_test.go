package s3

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/async-sync/async/backends/objstore"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
	"github.com/async-sync/async/internal/s3test"
)

var (
	srvOnce sync.Once
	srv     *s3test.Server
	stops   []func()
)

func server(t *testing.T) *s3test.Server {
	s3test.Require(t)
	srvOnce.Do(func() { srv = s3test.Start(lasting{t}) })
	if srv == nil {
		t.Fatal("versitygw did not start")
	}
	return srv
}

type lasting struct{ *testing.T }

func (lasting) Cleanup(fn func()) { stops = append(stops, fn) }

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	os.Exit(code)
}

func open(t *testing.T, s *s3test.Server, bucket string, o Options) *Bucket {
	o.Bucket, o.Endpoint, o.PathStyle, o.Region = bucket, s.Endpoint, true, "us-east-1"
	o.Credentials = credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")
	b, err := Open(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformance(t *testing.T) {
	s := server(t)
	backendtest.Run(t, func(t *testing.T) core.Backend {
		// Small parts, so that the suite's larger files go multipart.
		return objstore.New(open(t, s, s.Bucket(t), Options{PartSize: 5 << 20}), "tree/", objstore.Options{})
	})
}

func TestMultipartAndRangedRead(t *testing.T) {
	s := server(t)
	b := open(t, s, s.Bucket(t), Options{PartSize: 5 << 20})
	ctx := context.Background()
	data := make([]byte, 3*rangeChunk+12345)
	for i := range data {
		data[i] = byte(i * 31 >> 7)
	}
	w, _ := b.NewWriter(ctx, "big", objstore.WriteOptions{Size: int64(len(data)), IfNoneMatch: true})
	w.Write(data)
	o, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if o.Size != int64(len(data)) {
		t.Errorf("size %d", o.Size)
	}
	for _, off := range []int64{0, rangeChunk + 7, int64(len(data))} {
		r, _, err := b.Get(ctx, "big", off)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || !bytes.Equal(got, data[off:]) {
			t.Errorf("read at %d: %d bytes, %v", off, len(got), err)
		}
	}
	// A conditional write that finds an object fails, whole.
	w, _ = b.NewWriter(ctx, "big", objstore.WriteOptions{Size: int64(len(data)), IfNoneMatch: true})
	w.Write(data)
	if _, err := w.Commit(); !errors.Is(err, objstore.ErrConditionFailed) {
		t.Errorf("multipart over an existing object: %v", err)
	}
	w, _ = b.NewWriter(ctx, "big", objstore.WriteOptions{IfMatch: "0123"})
	w.Write([]byte("small"))
	if _, err := w.Commit(); !errors.Is(err, objstore.ErrConditionFailed) {
		t.Errorf("put with a wrong If-Match: %v", err)
	}
}

func TestMissingBucketAndBadCredentials(t *testing.T) {
	s := server(t)
	_, err := Open(context.Background(), Options{Bucket: "no-such-bucket", Endpoint: s.Endpoint, PathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, "")})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing bucket: %v", err)
	}
	_, err = Open(context.Background(), Options{Bucket: s.Bucket(t), Endpoint: s.Endpoint, PathStyle: true, Region: "us-east-1",
		Credentials: credentials.NewStaticCredentialsProvider(s.AccessKey, "wrong", "")})
	if err == nil {
		t.Errorf("wrong secret accepted")
	}
	t.Log(err)
}

func TestResumeAnInterruptedMultipartUpload(t *testing.T) {
	s := server(t)
	bucket := s.Bucket(t)
	b := open(t, s, bucket, Options{PartSize: 5 << 20})
	ctx := context.Background()
	data := make([]byte, 13<<20)
	for i := range data {
		data[i] = byte(i*7 + i>>11)
	}
	w, err := b.ResumeWriter(ctx, "d/big", "abc123", objstore.WriteOptions{Size: int64(len(data))})
	if err != nil || w.Offset() != 0 {
		t.Fatalf("fresh writer: offset %d, %v", w.Offset(), err)
	}
	w.Write(data[:11<<20]) // two whole parts go up, 1 MiB stays buffered
	if err := w.Keep(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Head(ctx, "d/big"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the interrupted upload is visible: %v", err)
	}
	w, err = b.ResumeWriter(ctx, "d/big", "abc123", objstore.WriteOptions{Size: int64(len(data))})
	if err != nil {
		t.Fatal(err)
	}
	if w.Offset() != 10<<20 {
		t.Fatalf("resumed at %d, want %d", w.Offset(), 10<<20)
	}
	w.Write(data[w.Offset():])
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	r, _, err := b.Get(ctx, "d/big", 0)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, data) {
		t.Errorf("resumed object differs (%d bytes)", len(got))
	}
	// The marker is gone, and another partial name starts afresh.
	if _, err := b.Head(ctx, markerKey("d/big", "abc123")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("marker left: %v", err)
	}
	// A stale upload of the session is aborted; another session's, and an
	// object that merely looks like a marker, are left alone.
	for _, partial := range []string{"TOK-old", "OTHER-old"} {
		w, _ = b.ResumeWriter(ctx, "d/stale-"+partial, partial, objstore.WriteOptions{})
		w.Write(data[:6<<20])
		w.Keep()
	}
	uw, err := b.NewWriter(ctx, "d/"+core.PartialPrefix+"x", objstore.WriteOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	uw.Write([]byte("mine"))
	if _, err := uw.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.AbortStale(ctx, "d/", "TOK", time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	for partial, want := range map[string]int64{"TOK-old": 0, "OTHER-old": 5 << 20} {
		w, _ = b.ResumeWriter(ctx, "d/stale-"+partial, partial, objstore.WriteOptions{})
		if w.Offset() != want {
			t.Errorf("upload %s: offset %d after AbortStale, want %d", partial, w.Offset(), want)
		}
		w.Abort()
	}
	if _, err := b.Head(ctx, "d/"+core.PartialPrefix+"x"); err != nil {
		t.Errorf("a user's object that looks like a marker: %v", err)
	}
}
