package plugins

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/async-sync/async/core"
	"github.com/async-sync/async/core/backendtest"
)

// logBuffer collects what the plugins log (go-plugin may log after a test
// ended, so not through t.Log).
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// dbURL returns the URL of a fresh bbolt file.
func dbURL(t testing.TB) string {
	return "bbolt://" + filepath.Join(t.TempDir(), "t.db") + "?nosync=1"
}

// openBbolt starts the example plugin on a fresh database.
func openBbolt(t testing.TB) core.Backend {
	t.Helper()
	b, err := Open(context.Background(), bboltPlugin(t), dbURL(t), OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestConformanceThroughPlugin(t *testing.T) {
	backendtest.Run(t, func(t *testing.T) core.Backend {
		b := openBbolt(t)
		if _, ok := b.(core.Linker); !ok {
			t.Error("the adapter lost core.Linker")
		}
		if _, ok := b.(core.Hasher); !ok {
			t.Error("the adapter lost core.Hasher")
		}
		// bboltfs.Backend is a Linker and a Hasher, nothing more; the
		// adapter adds Networked, its own.
		if got, want := core.FeaturesOf(b), core.FeatureLinker|core.FeatureHasher|core.FeatureNetworked; got != want {
			t.Errorf("the bbolt plugin's backend has %v, want %v", got, want)
		}
		return b
	})
}

// within fails the test when fn does not return in time: a hang.
func within[T any](t *testing.T, d time.Duration, fn func() T) T {
	t.Helper()
	done := make(chan T, 1)
	go func() { done <- fn() }()
	select {
	case v := <-done:
		return v
	case <-time.After(d):
		t.Fatalf("no answer after %v", d)
		panic("unreachable")
	}
}

func TestHandshakeRefused(t *testing.T) {
	t.Setenv(modeEnv, "badversion")
	self, _ := os.Executable()
	err := within(t, 30*time.Second, func() error {
		_, err := Open(context.Background(), self, "x://", OpenOptions{})
		return err
	})
	var inc *IncompatibleError
	if !errors.Is(err, ErrIncompatible) || !errors.As(err, &inc) {
		t.Fatalf("Open of a plugin with another protocol: %v", err)
	}
	msg := err.Error()
	if inc.Plugin != ProtocolVersion+1 || inc.Host != ProtocolVersion || !strings.Contains(msg, self) ||
		!strings.Contains(msg, fmt.Sprintf("version %d", ProtocolVersion+1)) || !strings.Contains(msg, fmt.Sprintf("version %d", ProtocolVersion)) {
		t.Errorf("unclear error: %v", err)
	}
	t.Log(err)
}

func TestPluginDiesWhileOpening(t *testing.T) {
	t.Setenv(modeEnv, "die")
	self, _ := os.Executable()
	var logs logBuffer
	err := within(t, 30*time.Second, func() error {
		_, err := Open(context.Background(), self, "x://", OpenOptions{Logger: logs.logger()})
		return err
	})
	if !errors.Is(err, ErrPluginExited) || strings.Count(err.Error(), self) != 1 {
		t.Errorf("Open of a crashing plugin: %v", err)
	}
	t.Log(err)
	out := logs.String()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(out, "about to crash") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond) // the stderr forwarding may run behind
		out = logs.String()
	}
	if !strings.Contains(out, "level=ERROR msg=\"panic: about to crash\"") {
		t.Errorf("the plugin's stderr did not reach the logger:\n%s", out)
	}
	if !strings.Contains(out, "level=WARN msg=opening") || !strings.Contains(out, "url=x://") {
		t.Errorf("the plugin's slog record did not reach the logger:\n%s", out)
	}
}

func TestPluginHangsWhileOpening(t *testing.T) {
	t.Setenv(modeEnv, "hang")
	self, _ := os.Executable()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	err := within(t, 30*time.Second, func() error {
		_, err := Open(ctx, self, "x://", OpenOptions{})
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), self) {
		t.Errorf("Open of a hanging plugin: %v", err)
	}
}

// kill ends the plugin process behind b abruptly.
func kill(t *testing.T, b core.Backend) {
	t.Helper()
	c := clientOf(t, b)
	proc, err := os.FindProcess(c.proc.pc.ReattachConfig().Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := proc.Kill(); err != nil {
		t.Fatal(err)
	}
}

func TestPluginKilledMidCreate(t *testing.T) {
	path := bboltPlugin(t)
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	w, err := b.Create(ctx, "big", core.CreateOptions{Size: 8 << 20, Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	kill(t, b)
	err = within(t, 30*time.Second, func() error {
		for range 7 {
			if _, err := w.Write(make([]byte, 1<<20)); err != nil {
				return err
			}
		}
		_, err := w.Commit(ctx)
		return err
	})
	if !errors.Is(err, ErrPluginExited) || !strings.Contains(err.Error(), path) {
		t.Errorf("create in a killed plugin: %v", err)
	}
	t.Log(err)
	err = within(t, 30*time.Second, func() error { _, err := b.Stat(ctx, ""); return err })
	if !errors.Is(err, ErrPluginExited) {
		t.Errorf("stat in a killed plugin: %v", err)
	}
}

func TestPluginKilledMidRead(t *testing.T) {
	path := bboltPlugin(t)
	b := openBbolt(t)
	defer b.Close()
	ctx := context.Background()
	content := make([]byte, 48<<20) // more than gRPC buffers
	w, err := b.Create(ctx, "big", core.CreateOptions{Size: int64(len(content)), Replace: core.MustNotExist})
	if err != nil {
		t.Fatal(err)
	}
	w.Write(content)
	if _, err := w.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	rc, _, err := b.Open(ctx, "big", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := rc.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	kill(t, b)
	err = within(t, 30*time.Second, func() error { _, err := io.ReadAll(rc); return err })
	if !errors.Is(err, ErrPluginExited) || !strings.Contains(err.Error(), path) {
		t.Errorf("read from a killed plugin: %v", err)
	}
	t.Log(err)
}

func TestChecksum(t *testing.T) {
	path := bboltPlugin(t)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	b, err := Open(context.Background(), path, dbURL(t), OpenOptions{SHA256: sum[:]})
	if err != nil {
		t.Fatalf("the right checksum: %v", err)
	}
	b.Close()
	sum[0]++
	if _, err := Open(context.Background(), path, dbURL(t), OpenOptions{SHA256: sum[:]}); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("a wrong checksum: %v", err)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := Open(context.Background(), bboltPlugin(t), "bbolt://u:secret@relative.db", OpenOptions{})
	if err == nil || !strings.Contains(err.Error(), bboltPlugin(t)) || !strings.Contains(err.Error(), "relative.db") {
		t.Errorf("a URL the plugin refuses: %v", err)
	}
	t.Log(err)
}
