package errcode

import (
	"errors"
	"io/fs"
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
	if Other.Err() != nil || numKinds.Err() != nil {
		t.Error("Other or an unknown kind has a sentinel")
	}
}
