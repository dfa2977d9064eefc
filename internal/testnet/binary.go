package testnet

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
)

// BinaryEnv names the async binary tests may use instead of building
// their own: make test builds bin/async once and sets it.
const BinaryEnv = "ASYNC_TEST_BIN"

// FullName is the full build that a lean async (make build) becomes for a
// bucket or plugin side: it must lie beside it.
const FullName = "async-full"

// FullBeside returns the full build to use where bin, an async that
// AsyncBinary put in place, may be lean: the async-full beside it when
// there is one, else bin itself (then a full build). The data path's UDP
// and QUIC transports are only in the full build.
func FullBeside(bin string) string {
	full := filepath.Join(filepath.Dir(bin), FullName)
	if _, err := os.Stat(full); err == nil {
		return full
	}
	return bin
}

// AsyncBinary puts an async binary at dst (mode 0755): a copy of
// $ASYNC_TEST_BIN when set, with the async-full beside it (when there is
// one) copied beside dst, else a fresh build of cmd/async (the full build).
func AsyncBinary(dst string) error {
	if src := os.Getenv(BinaryEnv); src != "" {
		if err := copyFile(src, dst); err != nil {
			return fmt.Errorf("%s: %w", BinaryEnv, err)
		}
		full := filepath.Join(filepath.Dir(src), FullName)
		if _, err := os.Stat(full); err == nil {
			if err := copyFile(full, filepath.Join(filepath.Dir(dst), FullName)); err != nil {
				return fmt.Errorf("%s: %w", BinaryEnv, err)
			}
		}
		return nil
	}
	out, err := exec.Command("go", "build", "-o", dst, "github.com/async-sync/async/cmd/async").CombinedOutput()
	if err != nil {
		return fmt.Errorf("build async: %v: %s", err, out)
	}
	return nil
}

// PluginEnv names the example backend plugin (examples/backend-bbolt)
// tests may use instead of building their own: make test builds it once
// into bin/ and sets it.
const PluginEnv = "ASYNC_TEST_PLUGIN"

// ExamplePlugin puts the example bbolt backend plugin at dst (mode 0755): a
// copy of $ASYNC_TEST_PLUGIN when set, else a build of the module in
// srcDir (examples/backend-bbolt, relative to the test's directory).
func ExamplePlugin(dst, srcDir string) error {
	if src := os.Getenv(PluginEnv); src != "" {
		if err := copyFile(src, dst); err != nil {
			return fmt.Errorf("%s: %w", PluginEnv, err)
		}
		return nil
	}
	cmd := exec.Command("go", "build", "-o", dst, ".")
	cmd.Dir = srcDir
	cmd.Env = append(os.Environ(), "GOFLAGS=-buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build of the example plugin: %v: %s", err, out)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
