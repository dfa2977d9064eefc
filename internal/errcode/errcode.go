// Package errcode is async's one error taxonomy: the kinds of failure
// (not-exist, precondition, permission, no-space, transient, fatal and a
// few finer ones), how any error is classified (Of: core's sentinels, the
// system's error numbers, network timeouts, servers' throttling), the Error
// type that gives an error a kind explicitly, and the tables by which the
// protocols that cross a process boundary (the agent wire protocol, the
// plugin protocol) carry a kind as a number. Each protocol only says which
// number it sends for each kind it carries.
package errcode

import (
	"context"
	"errors"
	"io/fs"
	"net"

	"github.com/async-sync/async/core"
)

// Kind is a class of error.
type Kind uint8

// The kinds, in classification order: the specific before the general (a
// non-empty directory may also be reported as fs.ErrExist; a failed
// precondition is never retried, whatever else it wraps).
const (
	// Fatal is every error of no other kind: not retried, reported as is.
	Fatal Kind = iota
	// Precondition: the entry was not in the state the action expected;
	// nothing was changed (core.ErrPrecondition).
	Precondition
	// Changed: a source changed while it was read (core.ErrChangedWhileReading).
	Changed
	// NotEmpty: a directory to remove still holds entries (core.ErrNotEmpty).
	NotEmpty
	// Owner: an owner or group could not be set (core.ErrOwner).
	Owner
	// Unsupported: the backend cannot do this (core.ErrUnsupported).
	Unsupported
	// NotExist: the path does not exist (fs.ErrNotExist, ENOENT).
	NotExist
	// Exist: the path exists where it must not (fs.ErrExist, EEXIST).
	Exist
	// Permission: not allowed (fs.ErrPermission, EACCES, EPERM).
	Permission
	// NoSpace: the destination is full or over quota (core.ErrNoSpace,
	// ENOSPC, EDQUOT).
	NoSpace
	// Transient: may succeed if tried again (core.ErrTransient, network
	// timeouts, reset or refused connections, a throttled or failing
	// server: HTTP 429 and 5xx).
	Transient
	numKinds
)

var names = [numKinds]string{
	Fatal: "fatal", Precondition: "precondition", Changed: "changed", NotEmpty: "not-empty",
	Owner: "owner", Unsupported: "unsupported", NotExist: "not-exist", Exist: "exist",
	Permission: "permission", NoSpace: "no-space", Transient: "transient",
}

// String returns the kind's name: "not-exist", "transient", ...
func (k Kind) String() string {
	if k >= numKinds {
		return "unknown"
	}
	return names[k]
}

// sentinels holds the error each kind stands for, indexed by Kind.
var sentinels = [numKinds]error{
	Precondition: core.ErrPrecondition,
	Changed:      core.ErrChangedWhileReading,
	NotEmpty:     core.ErrNotEmpty,
	Owner:        core.ErrOwner,
	Unsupported:  core.ErrUnsupported,
	NotExist:     fs.ErrNotExist,
	Exist:        fs.ErrExist,
	Permission:   fs.ErrPermission,
	NoSpace:      core.ErrNoSpace,
	Transient:    core.ErrTransient,
}

// Err returns the sentinel error of k, nil for Fatal.
func (k Kind) Err() error {
	if k >= numKinds {
		return nil
	}
	return sentinels[k]
}

// Retryable reports whether an error of kind k may go away by itself.
func (k Kind) Retryable() bool { return k == Transient }

// Error gives an error a kind without changing its message:
// errors.Is(e, e.Kind.Err()) holds, errors.As finds it, and Of returns
// its kind.
type Error struct {
	Kind Kind
	Err  error
}

// New returns err with kind k (nil for a nil err).
func New(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Error returns the wrapped error's message.
func (e *Error) Error() string {
	if e.Err == nil {
		return e.Kind.String()
	}
	return e.Err.Error()
}

// Unwrap returns the wrapped error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is the sentinel of e's kind.
func (e *Error) Is(target error) bool {
	s := e.Kind.Err()
	return s != nil && target == s
}

// Of classifies err: the first kind, in classification order, whose
// sentinel err is (an Error is its kind's sentinel); else the kind of an
// Error it wraps (so that Error{Fatal, ...} can say that a reset
// connection is gone for good); else what the system's error numbers,
// network timeouts and servers' throttling say; else Fatal (also for nil).
// The caller's own cancellation (context.Canceled,
// context.DeadlineExceeded) is never Transient.
func Of(err error) Kind {
	if err == nil {
		return Fatal
	}
	for k := Kind(1); k < numKinds; k++ {
		if errors.Is(err, sentinels[k]) {
			return k
		}
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	switch {
	case noSpaceErrno(err):
		return NoSpace
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return Fatal // the caller gave up: not the far side's hiccup
	case transientErrno(err) || timeout(err) || throttled(err):
		return Transient
	}
	return Fatal
}

// timeout reports a network timeout (net.Error's Timeout).
func timeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// throttled reports an HTTP server's refusal that may pass: a status 429
// or 5xx other than 501 (an error carrying HTTPStatusCode, as the AWS
// SDK's do), or an error code saying so (smithy's ErrorCode).
func throttled(err error) bool {
	var hs interface{ HTTPStatusCode() int }
	if errors.As(err, &hs) {
		if c := hs.HTTPStatusCode(); c == 429 || c >= 500 && c <= 599 && c != 501 {
			return true
		}
	}
	var ec interface{ ErrorCode() string }
	if errors.As(err, &ec) {
		switch ec.ErrorCode() {
		case "SlowDown", "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottled",
			"RequestThrottledException", "TooManyRequestsException", "RequestLimitExceeded",
			"RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable":
			return true
		}
	}
	return false
}

// Table is a protocol's numbers for the kinds it carries. A kind missing
// from it travels as the protocol's "other" code.
type Table[C comparable] map[Kind]C

// Code returns the number of err's kind (Of) when t carries it; ok is
// false when it does not. A kind t does not carry falls back to the first
// kind, in classification order, that t carries and whose sentinel err
// wraps (a protocol without Changed still sends a changed file that is
// also gone as NotExist).
func (t Table[C]) Code(err error) (code C, ok bool) {
	if c, carried := t[Of(err)]; carried {
		return c, true
	}
	for k := Kind(1); k < numKinds; k++ {
		if c, carried := t[k]; carried && errors.Is(err, sentinels[k]) {
			return c, true
		}
	}
	return code, false
}

// Err returns the sentinel error that code stands for, nil when t has no
// kind of that number.
func (t Table[C]) Err(code C) error {
	for k, c := range t {
		if c == code {
			return k.Err()
		}
	}
	return nil
}
