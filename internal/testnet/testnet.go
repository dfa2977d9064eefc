// Package testnet holds what the test servers (sshdtest, s3test) share:
// the little of a test they need, a free loopback port, random names.
package testnet

import (
	"crypto/rand"
	"encoding/hex"
	"net"
)

// T is what a test server needs of a test (testing.TB has it);
// benchmark programs implement it too.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// RandomHex returns n random bytes in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
