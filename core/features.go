package core

import "strings"

//go:generate go run genmask.go

// Features is a set of a backend's optional interfaces: which methods it
// has beyond Backend (Caps says how it behaves). It is the one way a
// proxy says what its far side can do: the SSH client and the plugin host
// learn their far side's Features when they connect, and Mask makes the
// backend they return have exactly those interfaces, so that a type
// assertion on it tells the truth and nothing calls a method the far side
// lacks. (Resumer belongs to writers: each writer says it.)
type Features uint32

// The optional interfaces, one bit each.
const (
	FeatureLinker     Features = 1 << iota // Linker
	FeatureHasher                          // Hasher
	FeatureHardLinker                      // HardLinker
	FeatureXattrer                         // Xattrer
	FeatureCopier                          // Copier
	FeatureWatcher                         // Watcher
	FeatureNetworked                       // Networked

	// AllFeatures is every optional interface.
	AllFeatures = FeatureLinker | FeatureHasher | FeatureHardLinker | FeatureXattrer |
		FeatureCopier | FeatureWatcher | FeatureNetworked
)

var featureNames = []string{"Linker", "Hasher", "HardLinker", "Xattrer", "Copier", "Watcher", "Networked"}

// Has reports whether f holds every feature of g.
func (f Features) Has(g Features) bool { return f&g == g }

// String names the features, "Linker|Hasher", or "none".
func (f Features) String() string {
	var names []string
	for i, n := range featureNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, "|")
}

// FeaturesOf returns the optional interfaces b has.
func FeaturesOf(b Backend) Features {
	var f Features
	for _, c := range []struct {
		has bool
		f   Features
	}{
		{is[Linker](b), FeatureLinker},
		{is[Hasher](b), FeatureHasher},
		{is[HardLinker](b), FeatureHardLinker},
		{is[Xattrer](b), FeatureXattrer},
		{is[Copier](b), FeatureCopier},
		{is[Watcher](b), FeatureWatcher},
		{is[Networked](b), FeatureNetworked},
	} {
		if c.has {
			f |= c.f
		}
	}
	return f
}

func is[T any](b Backend) bool {
	_, ok := b.(T)
	return ok
}

// Mask returns b with only the optional interfaces of f (those b has):
// b itself when it has none beyond them, else a value of a type with
// exactly those methods, which calls b's (see Unmask).
func Mask(b Backend, f Features) Backend {
	have := FeaturesOf(b)
	if have&^f == 0 {
		return b
	}
	return masked(Unmask(b), have&f) // a mask of a mask wraps once
}

// Unmask returns the backend Mask wrapped (b itself when it is not a
// masked one): for the code that made a proxy and needs it whole.
func Unmask(b Backend) Backend {
	if m, ok := b.(interface{ unmasked() Backend }); ok {
		return m.unmasked()
	}
	return b
}
