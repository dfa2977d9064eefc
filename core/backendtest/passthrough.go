package backendtest

import (
	"testing"

	"github.com/async-sync/async/core"
)

// Optional interface names, as Interfaces reports them.
const (
	IfaceLinker     = "Linker"
	IfaceHasher     = "Hasher"
	IfaceHardLinker = "HardLinker"
	IfaceXattrer    = "Xattrer"
	IfaceCopier     = "Copier"
	IfaceWatcher    = "Watcher"
	IfaceResumer    = "Resumer" // of the writers Create returns for a partial file
)

// Interfaces reports which optional interfaces b has. For Resumer it
// starts a writer of a partial file at probe (which must be free) and
// aborts it.
func Interfaces(t *testing.T, b core.Backend, probe string) map[string]bool {
	t.Helper()
	has := map[string]bool{}
	_, has[IfaceLinker] = b.(core.Linker)
	_, has[IfaceHasher] = b.(core.Hasher)
	_, has[IfaceHardLinker] = b.(core.HardLinker)
	_, has[IfaceXattrer] = b.(core.Xattrer)
	_, has[IfaceCopier] = b.(core.Copier)
	_, has[IfaceWatcher] = b.(core.Watcher)
	w, err := b.Create(ctx, probe, core.CreateOptions{Size: 1, Replace: core.MustNotExist, Partial: "passthroughProbe"})
	if err != nil {
		t.Fatalf("create %s: %v", probe, err)
	}
	_, has[IfaceResumer] = w.(core.Resumer)
	if err := w.Abort(); err != nil {
		t.Fatalf("abort %s: %v", probe, err)
	}
	return has
}

// PassThrough checks that the wrapper outer has exactly the optional
// interfaces of the backend inner it stands for: a type assertion on a
// wrapper must tell the truth about the far side. gaps names the known
// differences (interface → why): their subtests are skipped with the
// reason while the difference remains, and fail once it is gone, so that
// the list stays true.
func PassThrough(t *testing.T, inner, outer core.Backend, gaps map[string]string) {
	t.Helper()
	in := Interfaces(t, inner, "passthrough-inner")
	out := Interfaces(t, outer, "passthrough-outer")
	for _, name := range []string{IfaceLinker, IfaceHasher, IfaceHardLinker, IfaceXattrer, IfaceCopier, IfaceWatcher, IfaceResumer} {
		t.Run(name, func(t *testing.T) {
			why, known := gaps[name]
			switch {
			case in[name] == out[name] && known:
				t.Errorf("%s now passes through (inner %v): drop the known gap %q", name, in[name], why)
			case in[name] == out[name]:
			case known:
				t.Skipf("known gap: inner has %s: %v, the wrapper: %v: %s", name, in[name], out[name], why)
			default:
				t.Errorf("inner has %s: %v, the wrapper: %v", name, in[name], out[name])
			}
		})
	}
}
