package core

import (
	"context"
	"testing"
)

// capsOnly is a backend that answers Caps (all newEngine asks).
type capsOnly struct{ Backend }

func (capsOnly) Caps() Caps { return Caps{} }

// windowed is a networked backend whose small files are bounded by
// bytes in flight.
type windowed struct {
	capsOnly
	small ThreadClass
}

func (windowed) InFlight() int             { return 32 }
func (w windowed) SmallFiles() ThreadClass { return w.small }

// linkingWindowed has an optional interface to mask away, as the SSH
// client has every one the protocol carries and is masked to the
// agent's backend's.
type linkingWindowed struct{ windowed }

func (linkingWindowed) Symlink(context.Context, string, string, Precondition) (Entry, error) {
	return Entry{}, nil
}

// TestSmallFilesClass: without --transfer-threads, a backend's small
// files class runs beside the InFlight workers (which stay last: they run
// the directory levels); a class no larger than InFlight, or one
// without a size, is left out; --transfer-threads wins.
func TestSmallFilesClass(t *testing.T) {
	for _, tc := range []struct {
		name  string
		small ThreadClass
		given []ThreadClass
		want  []ThreadClass
	}{
		{"window", ThreadClass{N: 512, MaxSize: 64 << 10}, nil, []ThreadClass{{N: 512, MaxSize: 64 << 10}, {N: 32}}},
		{"no data path", ThreadClass{}, nil, []ThreadClass{{N: 32}}},
		{"fewer workers", ThreadClass{N: 16, MaxSize: 64 << 10}, nil, []ThreadClass{{N: 32}}},
		{"no size", ThreadClass{N: 512}, nil, []ThreadClass{{N: 32}}},
		{"given", ThreadClass{N: 512, MaxSize: 64 << 10}, []ThreadClass{{N: 3}}, []ThreadClass{{N: 3}}},
		{"masked", ThreadClass{N: 512, MaxSize: 64 << 10}, nil, []ThreadClass{{N: 512, MaxSize: 64 << 10}, {N: 32}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			local := &Endpoint{Backend: capsOnly{}}
			var b Backend = windowed{capsOnly{}, tc.small}
			if tc.name == "masked" {
				b = Mask(linkingWindowed{windowed{capsOnly{}, tc.small}}, FeatureNetworked)
				if _, ok := b.(Linker); ok {
					t.Fatal("the mask kept Linker")
				}
			}
			remote := &Endpoint{Backend: b}
			e := newEngine(local, remote, Options{TransferThreads: tc.given})
			got := e.o.TransferThreads
			if len(got) != len(tc.want) {
				t.Fatalf("classes %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("classes %v, want %v", got, tc.want)
				}
			}
		})
	}
}
