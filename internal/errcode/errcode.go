// Package errcode is the one list of the errors that cross a process
// boundary by kind (the agent wire protocol, the plugin protocol): which
// sentinel each kind stands for, and in which order an error is
// classified when it wraps several. Each protocol only says which number
// it sends for each kind it carries.
package errcode

import (
	"errors"
	"io/fs"

	"github.com/async-sync/async/core"
)

// Kind is a class of error that a protocol carries as a number.
type Kind uint8

// The kinds, in classification order: the specific before the general (a
// non-empty directory may also be reported as fs.ErrExist).
const (
	Other Kind = iota
	Precondition
	Changed
	NotEmpty
	Owner
	Unsupported
	NotExist
	Exist
	Permission
	numKinds
)

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
}

// Err returns the sentinel error of k, nil for Other.
func (k Kind) Err() error {
	if k >= numKinds {
		return nil
	}
	return sentinels[k]
}

// Table is a protocol's numbers for the kinds it carries. A kind missing
// from it travels as the protocol's "other" code.
type Table[C comparable] map[Kind]C

// Code returns the number of the first kind, in classification order,
// that t carries and err is; ok is false when there is none.
func (t Table[C]) Code(err error) (code C, ok bool) {
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
