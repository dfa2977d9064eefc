package errcode

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/async-sync/async/core"
)

func TestTable(t *testing.T) {
	tab := Table[int]{NotExist: 10, Exist: 11, NotEmpty: 12}
	for _, c := range []struct {
		err  error
		code int
		ok   bool
	}{
		{errors.New("x"), 0, false},
		{fs.ErrNotExist, 10, true},
		{errors.Join(fs.ErrExist, core.ErrNotEmpty), 12, true}, // the specific first
		{core.ErrPrecondition, 0, false},                       // not carried
		{errors.Join(core.ErrPrecondition, fs.ErrExist), 11, true},
	} {
		if code, ok := tab.Code(c.err); code != c.code || ok != c.ok {
			t.Errorf("Code(%v) = %d, %v, want %d, %v", c.err, code, ok, c.code, c.ok)
		}
	}
	for code, want := range map[int]error{10: fs.ErrNotExist, 11: fs.ErrExist, 12: core.ErrNotEmpty, 0: nil, 99: nil} {
		if got := tab.Err(code); got != want {
			t.Errorf("Err(%d) = %v, want %v", code, got, want)
		}
	}
}

func TestEveryKindHasSentinel(t *testing.T) {
	seen := map[error]Kind{}
	for k := Kind(1); k < numKinds; k++ {
		err := k.Err()
		if err == nil {
			t.Errorf("kind %d has no sentinel", k)
		}
		if o, dup := seen[err]; dup {
			t.Errorf("kinds %d and %d share %v", o, k, err)
		}
		seen[err] = k
	}
	if Fatal.Err() != nil || numKinds.Err() != nil {
		t.Error("Fatal or an unknown kind has a sentinel")
	}
}

// httpErr is a server's answer as the AWS SDK reports it.
type httpErr struct{ status int }

func (e httpErr) Error() string       { return fmt.Sprintf("http %d", e.status) }
func (e httpErr) HTTPStatusCode() int { return e.status }

// apiErr is a server's error code as smithy reports it.
type apiErr string

func (e apiErr) Error() string     { return string(e) }
func (e apiErr) ErrorCode() string { return string(e) }

func TestOf(t *testing.T) {
	pathErr := func(errno syscall.Errno) error { return &fs.PathError{Op: "open", Path: "/x", Err: errno} }
	for _, c := range []struct {
		err  error
		want Kind
	}{
		{nil, Fatal},
		{errors.New("x"), Fatal},
		{pathErr(syscall.ENOENT), NotExist},
		{pathErr(syscall.EACCES), Permission},
		{pathErr(syscall.EPERM), Permission},
		{pathErr(syscall.ENOSPC), NoSpace},
		{pathErr(syscall.EDQUOT), NoSpace},
		{pathErr(syscall.EIO), Fatal}, // a failing disk: not retried
		{pathErr(syscall.EEXIST), Exist},
		{fmt.Errorf("rm: %w", core.ErrPrecondition), Precondition},
		{fmt.Errorf("put: %w", core.ErrNoSpace), NoSpace},
		{fmt.Errorf("get: %w", core.ErrTransient), Transient},
		{&net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, Transient},
		{&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, Transient},
		{&net.OpError{Op: "write", Net: "tcp", Err: syscall.EPIPE}, Transient},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), Transient}, // a connection's deadline
		{&net.DNSError{Err: "timeout", IsTimeout: true}, Transient},
		{fmt.Errorf("scan: %w", context.DeadlineExceeded), Fatal}, // the caller's own
		{fmt.Errorf("scan: %w", context.Canceled), Fatal},
		{httpErr{503}, Transient},
		{httpErr{500}, Transient},
		{httpErr{429}, Transient},
		{httpErr{501}, Fatal}, // not implemented: asking again will not help
		{httpErr{400}, Fatal},
		{apiErr("SlowDown"), Transient},
		{apiErr("NoSuchBucket"), Fatal},
		{errors.Join(core.ErrPrecondition, core.ErrTransient), Precondition}, // never retried
		{New(Transient, errors.New("503")), Transient},
		{New(Fatal, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), Fatal}, // gone for good
		{New(Fatal, fs.ErrNotExist), NotExist},                                             // a sentinel is never hidden
		{New(NoSpace, errors.New("bucket quota")), NoSpace},
	} {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

func TestError(t *testing.T) {
	inner := errors.New("slow down, please")
	err := fmt.Errorf("put /a: %w", New(Transient, inner))
	if err.Error() != "put /a: slow down, please" {
		t.Errorf("message %q: the kind changed it", err)
	}
	if !errors.Is(err, core.ErrTransient) || !errors.Is(err, inner) || errors.Is(err, core.ErrNoSpace) {
		t.Errorf("errors.Is: transient %v, inner %v, no-space %v", errors.Is(err, core.ErrTransient), errors.Is(err, inner), errors.Is(err, core.ErrNoSpace))
	}
	var e *Error
	if !errors.As(err, &e) || e.Kind != Transient || e.Err != inner {
		t.Errorf("errors.As: %v %+v", errors.As(err, &e), e)
	}
	if !Of(err).Retryable() || Of(fs.ErrNotExist).Retryable() || New(Fatal, nil) != nil {
		t.Error("Retryable or New(nil)")
	}
	if (&Error{Kind: NoSpace}).Error() != "no-space" {
		t.Errorf("an Error without a cause says %q", (&Error{Kind: NoSpace}).Error())
	}
	for k := Fatal; k < numKinds; k++ {
		if k.String() == "" || k.String() == "unknown" {
			t.Errorf("kind %d has no name", k)
		}
	}
}
