package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/plugins/pb"
)

// clientOf returns the adapter behind b.
func clientOf(t *testing.T, b core.Backend) *client {
	t.Helper()
	c, ok := core.Unmask(b).(*client)
	if !ok {
		t.Fatalf("unexpected adapter %T", b)
	}
	return c
}

// TestTransferSizes writes and reads files around the sizes where the
// transfer changes shape: one Put or a stream, one Read or a Read and a
// stream.
func TestTransferSizes(t *testing.T) {
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	writes := map[string]func(w io.Writer, p []byte) error{
		"whole": func(w io.Writer, p []byte) error { _, err := w.Write(p); return err },
		"pieces": func(w io.Writer, p []byte) error {
			for len(p) > 0 {
				n := min(len(p), 128<<10+7)
				if _, err := w.Write(p[:n]); err != nil {
					return err
				}
				p = p[n:]
			}
			return nil
		},
		"byte-then-rest": func(w io.Writer, p []byte) error {
			if len(p) == 0 {
				return nil
			}
			if _, err := w.Write(p[:1]); err != nil {
				return err
			}
			_, err := w.Write(p[1:])
			return err
		},
	}
	for _, size := range []int{0, 1, 4 << 10, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 5} {
		content := make([]byte, size)
		for i := range content {
			content[i] = byte(i*7 + i>>12)
		}
		for name, write := range writes {
			p := fmt.Sprintf("f-%d-%s", size, name)
			for _, declared := range []int64{int64(size), -1} {
				w, err := b.Create(ctx, p, core.CreateOptions{Size: declared, Replace: core.Precondition{Any: true}})
				if err != nil {
					t.Fatal(err)
				}
				if err := write(w, content); err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				e, err := w.Commit(ctx)
				if err != nil {
					t.Fatalf("%s: %v", p, err)
				}
				if e.Size != int64(size) {
					t.Errorf("%s: committed size %d", p, e.Size)
				}
			}
			for _, off := range []int{0, 1, chunkSize, size - 1, size} {
				if off < 0 || off > size {
					continue
				}
				rc, e, err := b.Open(ctx, p, int64(off))
				if err != nil {
					t.Fatalf("%s at %d: %v", p, off, err)
				}
				if e.Size != int64(size) {
					t.Errorf("%s: opened size %d", p, e.Size)
				}
				var got []byte
				if off%2 == 0 {
					got, err = io.ReadAll(rc) // Read
				} else {
					var buf bytes.Buffer
					_, err = io.Copy(&buf, rc) // WriteTo
					got = buf.Bytes()
				}
				rc.Close()
				if err != nil {
					t.Fatalf("%s at %d: %v", p, off, err)
				}
				if !bytes.Equal(got, content[off:]) {
					t.Errorf("%s at %d: read %d bytes, not the %d written", p, off, len(got), size-off)
				}
			}
		}
	}
}

// TestReadCloseEarly stops reading a large file after its first bytes.
func TestReadCloseEarly(t *testing.T) {
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	w, err := b.Create(ctx, "big", core.CreateOptions{Size: 8 * chunkSize, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(make([]byte, 8*chunkSize))
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		rc, _, err := b.Open(ctx, "big", 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, chunkSize+10)); err != nil {
			t.Fatal(err)
		}
		rc.Close()
	}
	if _, err := b.Stat(ctx, "big"); err != nil {
		t.Fatal(err)
	}
}

// TestOpenChanged refuses to stream the rest of a file that is not the one
// expected anymore.
func TestOpenChanged(t *testing.T) {
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	w, err := b.Create(ctx, "f", core.CreateOptions{Size: 3, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("abc"))
	e, err := w.Commit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := clientOf(t, b)
	read := func(expect core.Entry) error {
		st, err := c.rpc.Open(ctx, &pb.OpenRequest{Path: "f", Offset: 1, Expect: entryToPB(&expect)})
		if err == nil {
			for err == nil {
				_, err = st.Recv()
			}
			if err == io.EOF {
				return nil
			}
		}
		return c.fromStatus(ctx, "read /f", err)
	}
	if err := read(e); err != nil {
		t.Errorf("the expected file: %v", err)
	}
	e.Token += "x"
	if err := read(e); !errors.Is(err, core.ErrPrecondition) {
		t.Errorf("a changed file: %v", err)
	}
}

// TestPutWhole keeps a file of up to one chunk for one Put.
func TestPutWhole(t *testing.T) {
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	cw, err := b.Create(ctx, "f", core.CreateOptions{Size: -1, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w := cw.(*writer)
	for range chunkSize / (128 << 10) {
		w.Write(make([]byte, 128<<10))
	}
	if w.st != nil {
		t.Error("a stream for one chunk")
	}
	w.Write([]byte{1})
	if w.st == nil {
		t.Error("no stream for more than one chunk")
	}
	if e, err := w.Commit(ctx); err != nil || e.Size != chunkSize+1 {
		t.Errorf("commit: %v, %d bytes", err, e.Size)
	}
}
