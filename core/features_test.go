package core

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"testing"
)

// every implements Backend and every optional interface; each optional
// method reports that it ran.
type every struct{ called *string }

var errStub = errors.New("stub")

func (every) Caps() Caps                                                 { return Caps{Dirs: true} }
func (every) Scan(context.Context, ScanOptions, func(Entry) error) error { return errStub }
func (every) Stat(context.Context, string) (Entry, error)                { return Entry{}, errStub }
func (every) Open(context.Context, string, int64) (io.ReadCloser, Entry, error) {
	return nil, Entry{}, errStub
}
func (every) Create(context.Context, string, CreateOptions) (Writer, error) { return nil, errStub }
func (every) Mkdir(context.Context, string, fs.FileMode) (Entry, error)     { return Entry{}, errStub }
func (every) Remove(context.Context, string, Precondition) error            { return errStub }
func (every) Rename(context.Context, string, string, Precondition) (Entry, error) {
	return Entry{}, errStub
}
func (every) SetAttr(context.Context, string, Attrs) (Entry, error) { return Entry{}, errStub }
func (every) Close() error                                          { return nil }
func (e every) Symlink(context.Context, string, string, Precondition) (Entry, error) {
	*e.called = "Symlink"
	return Entry{}, nil
}
func (e every) Hash(context.Context, string, Checksum) (string, Entry, error) {
	*e.called = "Hash"
	return "", Entry{}, nil
}
func (e every) Link(context.Context, string, string, Precondition) (Entry, error) {
	*e.called = "Link"
	return Entry{}, nil
}
func (e every) Xattrs(context.Context, string) (map[string][]byte, error) {
	*e.called = "Xattrs"
	return nil, nil
}
func (e every) SetXattrs(context.Context, string, map[string][]byte) error {
	*e.called = "SetXattrs"
	return nil
}
func (e every) Copy(context.Context, string, string, Precondition) (Entry, error) {
	*e.called = "Copy"
	return Entry{}, nil
}
func (e every) Watch(context.Context, func([]string)) error {
	*e.called = "Watch"
	return nil
}
func (e every) InFlight() int {
	*e.called = "InFlight"
	return 7
}

// TestMaskHasExactlyTheFeatures: for every set, the masked backend has
// exactly those optional interfaces, each of which reaches the inner
// backend's method, and keeps the inner one's Backend methods.
func TestMaskHasExactlyTheFeatures(t *testing.T) {
	var called string
	b := every{&called}
	if got := FeaturesOf(b); got != AllFeatures {
		t.Fatalf("FeaturesOf(every) = %v", got)
	}
	calls := map[Features]func(Backend){
		FeatureLinker:     func(m Backend) { m.(Linker).Symlink(ctx0, "a", "b", Precondition{}) },
		FeatureHasher:     func(m Backend) { m.(Hasher).Hash(ctx0, "a", "") },
		FeatureHardLinker: func(m Backend) { m.(HardLinker).Link(ctx0, "a", "b", Precondition{}) },
		FeatureXattrer:    func(m Backend) { m.(Xattrer).SetXattrs(ctx0, "a", nil) },
		FeatureCopier:     func(m Backend) { m.(Copier).Copy(ctx0, "a", "b", Precondition{}) },
		FeatureWatcher:    func(m Backend) { m.(Watcher).Watch(ctx0, nil) },
		FeatureNetworked:  func(m Backend) { m.(Networked).InFlight() },
	}
	want := map[Features]string{FeatureLinker: "Symlink", FeatureHasher: "Hash", FeatureHardLinker: "Link",
		FeatureXattrer: "SetXattrs", FeatureCopier: "Copy", FeatureWatcher: "Watch", FeatureNetworked: "InFlight"}
	for f := Features(0); f <= AllFeatures; f++ {
		m := Mask(b, f)
		if got := FeaturesOf(m); got != f {
			t.Errorf("Mask(every, %v) has %v", f, got)
			continue
		}
		if !m.Caps().Dirs || m.Remove(ctx0, "x", Precondition{}) != errStub {
			t.Errorf("Mask(every, %v) lost the Backend methods", f)
		}
		for feat, call := range calls {
			if !f.Has(feat) {
				continue
			}
			called = ""
			call(m)
			if called != want[feat] {
				t.Errorf("Mask(every, %v): %v reached %q, want %q", f, feat, called, want[feat])
			}
		}
	}
}

// TestMaskKeepsOnlyWhatTheInnerHas: a mask never adds an interface, masks
// compose, and a mask that hides nothing is the backend itself.
func TestMaskKeepsOnlyWhatTheInnerHas(t *testing.T) {
	var called string
	some := Mask(every{&called}, FeatureLinker|FeatureWatcher)
	tests := []struct {
		f, want Features
	}{
		{AllFeatures, FeatureLinker | FeatureWatcher},
		{FeatureWatcher | FeatureCopier, FeatureWatcher},
		{FeatureHasher, 0},
		{0, 0},
	}
	for _, tc := range tests {
		if got := FeaturesOf(Mask(some, tc.f)); got != tc.want {
			t.Errorf("Mask(Linker|Watcher, %v) has %v, want %v", tc.f, got, tc.want)
		}
	}
	if Mask(some, AllFeatures) != some {
		t.Error("a mask that hides nothing wrapped the backend again")
	}
	if u, ok := Unmask(Mask(some, FeatureWatcher)).(every); !ok || u.called != &called {
		t.Errorf("Unmask gave %T, not the backend masked", u)
	}
	if u := Unmask(some); u == some {
		t.Error("Unmask of a masked backend gave it back")
	}
}

func TestFeaturesString(t *testing.T) {
	tests := []struct {
		f    Features
		want string
	}{
		{0, "none"},
		{FeatureLinker, "Linker"},
		{FeatureHardLinker | FeatureWatcher, "HardLinker|Watcher"},
		{AllFeatures, "Linker|Hasher|HardLinker|Xattrer|Copier|Watcher|Networked"},
	}
	for _, tc := range tests {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

var ctx0 = context.Background()
