package core

import "crypto/rand"

// newTempToken returns a new session's random token (Meta.TempToken): 16
// characters of base32 (80 bits), upper-case letters and digits, so
// that it never reads as a pid nor as "partial".
func newTempToken() string {
	return rand.Text()[:16]
}
