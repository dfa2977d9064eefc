package plugins

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	plugin "github.com/hashicorp/go-plugin"

	"github.com/async-sync/async/backends/local"
	"github.com/async-sync/async/core"
	"github.com/async-sync/async/internal/testnet"
)

// modeEnv makes the test binary act as a misbehaving plugin.
const modeEnv = "ASYNC_PLUGINS_TEST_MODE"

func TestMain(m *testing.M) {
	if os.Getenv(MagicCookieKey) != "" { // started as a plugin
		actAsPlugin(os.Getenv(modeEnv))
		return
	}
	sockets, err := os.MkdirTemp("", "async-plugin-sockets-")
	if err != nil {
		panic(err)
	}
	// The plugins' sockets go there: a plugin killed by a test leaves its
	// socket behind.
	os.Setenv(plugin.EnvUnixSocketDir, sockets)
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.RemoveAll(sockets)
	os.Exit(code)
}

// actAsPlugin serves the plugins the tests need besides the bbolt one.
func actAsPlugin(mode string) {
	switch mode {
	case "badversion": // a plugin built for another protocol
		serve(func(context.Context, string) (core.Backend, error) { return nil, nil }, ProtocolVersion+1)
	case "die": // a plugin that crashes while opening its backend
		serve(func(_ context.Context, rawURL string) (core.Backend, error) {
			slog.Warn("opening", "url", rawURL)
			panic("about to crash")
		}, ProtocolVersion)
	case "hang": // a plugin that never finishes opening
		serve(func(context.Context, string) (core.Backend, error) { select {} }, ProtocolVersion)
	case "local": // the local backend, at the URL's path (passthrough_test.go)
		serve(func(_ context.Context, rawURL string) (core.Backend, error) {
			return local.Open(strings.TrimPrefix(rawURL, "local://"), local.Options{})
		}, ProtocolVersion)
	case "masked": // the local backend with only the optional interfaces of ?features=N
		serve(func(_ context.Context, rawURL string) (core.Backend, error) {
			dir, q, _ := strings.Cut(strings.TrimPrefix(rawURL, "masked://"), "?features=")
			f, err := strconv.ParseUint(q, 10, 32)
			if err != nil {
				return nil, err
			}
			b, err := local.Open(dir, local.Options{})
			if err != nil {
				return nil, err
			}
			return core.Mask(b, core.Features(f)), nil
		}, ProtocolVersion)
	case "copier": // the local backend and a Copy that only answers (passthrough_test.go)
		serve(func(_ context.Context, rawURL string) (core.Backend, error) {
			b, err := local.Open(strings.TrimPrefix(rawURL, "copier://"), local.Options{})
			if err != nil {
				return nil, err
			}
			return answeringCopier{b}, nil
		}, ProtocolVersion)
	default:
		fmt.Fprintf(os.Stderr, "test binary started as a plugin without %s\n", modeEnv)
		os.Exit(1)
	}
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// bboltPlugin builds the example plugin (its own module) once and returns
// the executable's path.
func bboltPlugin(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "async-plugins-test-"); buildErr != nil {
			return
		}
		buildErr = testnet.ExamplePlugin(filepath.Join(buildDir, Prefix+"bbolt"), filepath.Join("..", "examples", "backend-bbolt"))
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, Prefix+"bbolt")
}

// answeringCopier is the local backend with a Copy that copies nothing:
// it answers the source's entry at the new path, or ErrPrecondition when
// the source is not the one expected.
type answeringCopier struct{ *local.FS }

func (c answeringCopier) Copy(ctx context.Context, from, to string, pre core.Precondition) (core.Entry, error) {
	e, err := c.Stat(ctx, from)
	if err != nil {
		return core.Entry{}, err
	}
	if pre.Expect != nil && pre.Expect.Size != e.Size {
		return core.Entry{}, fmt.Errorf("copy %s: %w", from, core.ErrPrecondition)
	}
	e.Path = to
	return e, nil
}
