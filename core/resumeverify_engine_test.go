package core_test

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/async-sync/async/core"
)

// checkedPartial is a backend whose writers hold a partial file left by an
// earlier run (claimed) that the engine must check against the source.
type checkedPartial struct {
	core.Backend
	claimed []byte
	opened  int // times VerifyResume opened the source
}

func (b *checkedPartial) Create(ctx context.Context, p string, o core.CreateOptions) (core.Writer, error) {
	w, err := b.Backend.Create(ctx, p, o)
	if err != nil || o.Partial == "" {
		return w, err
	}
	return &checkedWriter{Writer: w, b: b}, nil
}

type checkedWriter struct {
	core.Writer
	b   *checkedPartial
	off int64
}

func (w *checkedWriter) Offset() int64 { return w.off }
func (w *checkedWriter) Keep() error   { return w.Writer.Abort() }

// VerifyResume keeps the longest prefix of the claimed bytes that the
// source starts with.
func (w *checkedWriter) VerifyResume(ctx context.Context, open func() (io.ReadCloser, error)) error {
	r, err := open()
	if err != nil {
		return err
	}
	defer r.Close()
	w.b.opened++
	src := make([]byte, len(w.b.claimed))
	n, _ := io.ReadFull(r, src)
	for w.off < int64(n) && src[w.off] == w.b.claimed[w.off] {
		w.off++
	}
	_, err = w.Writer.Write(src[:w.off])
	return err
}

// TestResumeVerifierGetsTheSourceFromItsStart: a writer that cannot vouch
// for its partial file is handed the source from byte 0 before the copy,
// and the copy continues from the prefix it kept, so that a partial file
// whose tail is not the source's never reaches the destination.
func TestResumeVerifierGetsTheSourceFromItsStart(t *testing.T) {
	content := strings.Repeat("0123456789abcdef", 1<<12) // 64 KiB
	for _, tc := range []struct {
		name    string
		claimed string
		kept    int64
	}{
		{"all of it the source's", content[:40000], 40000},
		{"a tail not the source's", content[:30000] + strings.Repeat("\x00", 10000), 30000},
		{"none of it", "X" + content[1:40000], 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newFaultWorld(t, core.Push)
			w.put(core.Local, "big", content)
			dst := &checkedPartial{Backend: w.fs[core.Remote], claimed: []byte(tc.claimed)}
			var eps [2]*core.Endpoint
			eps[core.Local] = &core.Endpoint{Backend: w.fs[core.Local], Store: w.stores[core.Local], URL: "mem://local"}
			eps[core.Remote] = &core.Endpoint{Backend: dst, Store: w.stores[core.Remote], URL: "mem://remote"}
			stats := &core.Stats{}
			if _, err := core.Sync(bg, eps[0], eps[1], core.Options{Session: "v", Policy: w.policy, Stats: stats,
				SupportResume: 1 << 10}); err != nil {
				t.Fatal(err)
			}
			if dst.opened != 1 {
				t.Errorf("the source was opened %d times for the check, want 1", dst.opened)
			}
			rc, _, err := w.fs[core.Remote].Open(bg, "big", 0)
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if !bytes.Equal(got, []byte(content)) {
				t.Errorf("destination differs from the source (%d bytes)", len(got))
			}
			if sent, want := stats.Bytes.Load(), int64(len(content))-tc.kept; sent != want {
				t.Errorf("%d bytes sent, want %d (the rest was kept)", sent, want)
			}
		})
	}
}
