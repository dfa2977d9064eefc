package main

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The hand-written checks accept exactly what the regular expressions of
// the reference accept.
func TestNameChecks(t *testing.T) {
	checks := []struct {
		name  string
		check func(string) bool
		re    *regexp.Regexp
		cases map[string]bool
	}{
		{"session", validSessionName, regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`), map[string]bool{
			"": false, "a": true, "A-b_9": true, "-": true, "a b": false, "a.b": false, "é": false,
			strings.Repeat("x", 128): true, strings.Repeat("x", 129): false, "a\n": false,
		}},
		{"tag key", validTagKey, regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`), map[string]bool{
			"": false, "a": true, "a.b-c_d": true, "_a": false, ".a": false, "-a": false, "9": true,
			"a/b": false, strings.Repeat("x", 128): true, strings.Repeat("x", 129): false, "ä": false,
		}},
	}
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "aZ09_-. /é\x00"
	for _, c := range checks {
		for in, want := range c.cases {
			if got := c.check(in); got != want {
				t.Errorf("%s %q: got %v, want %v", c.name, in, got, want)
			}
		}
		for range 20000 {
			var b strings.Builder
			for range rng.IntN(140) {
				if rng.IntN(10) == 0 {
					b.WriteString(alphabet[rng.IntN(len(alphabet)):][:1])
				} else {
					b.WriteByte("abcXYZ0129"[rng.IntN(10)])
				}
			}
			in := b.String()
			if got, want := c.check(in), c.re.MatchString(in); got != want {
				t.Fatalf("%s %q: got %v, the regular expression says %v", c.name, in, got, want)
			}
		}
	}
}
