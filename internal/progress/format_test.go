package progress

import "testing"

func TestGroupAndSize(t *testing.T) {
	for _, c := range []struct {
		n           int64
		group, size string
	}{
		{0, "0", "0 B"},
		{999, "999", "999 B"},
		{1000, "1,000", "1000 B"},
		{1024, "1,024", "1.0 KiB"},
		{-1234567, "-1,234,567", "-1234567 B"},
		{1536 << 20, "1,610,612,736", "1.5 GiB"},
		{5 << 50, "5,629,499,534,213,120", "5120.0 TiB"},
		{5000 << 50, "5,629,499,534,213,120,000", "5120000.0 TiB"},
	} {
		if got := Group(c.n); got != c.group {
			t.Errorf("Group(%d) = %q, want %q", c.n, got, c.group)
		}
		if got := Size(c.n); got != c.size {
			t.Errorf("Size(%d) = %q, want %q", c.n, got, c.size)
		}
	}
}
