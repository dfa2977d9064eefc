package core

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestOtherFileSystem(t *testing.T) {
	dev := func(major, minor uint64) string {
		return strconv.FormatUint(major<<8|minor&0xff|(minor&^0xff)<<12, 10)
	}
	for _, tc := range []struct {
		was, now string
		want     bool
	}{
		{"", dev(8, 1), false},           // not recorded (older snapshot)
		{dev(8, 1), "", false},           // backend without devices now
		{dev(8, 1), dev(8, 1), false},    // same disk
		{dev(8, 1), dev(0, 39), true},    // a tmpfs mounted over a disk
		{dev(0, 39), dev(8, 1), true},    // a disk mounted over a tmpfs
		{dev(8, 1), dev(8, 17), true},    // another disk
		{dev(0, 39), dev(0, 44), false},  // anonymous numbers change at each mount
		{dev(254, 0), dev(259, 3), true}, // virtio to NVMe
		{"garbage", dev(8, 1), true},
	} {
		if got := otherFileSystem(tc.was, tc.now); got != tc.want {
			t.Errorf("otherFileSystem(%s, %s) = %v, want %v", tc.was, tc.now, got, tc.want)
		}
	}
	if got := devMajor(65024); got != 254 {
		t.Errorf("devMajor(65024) = %d, want 254", got)
	}
}

func TestKeepDirsUnion(t *testing.T) {
	got := keepDirs([]string{"old", "trash"}, []string{"", "trash", "new"})
	if want := []string{"new", "old", "trash"}; !slices.Equal(got, want) {
		t.Errorf("keepDirs = %v, want %v", got, want)
	}
}

func TestMovedFrom(t *testing.T) {
	t0 := time.Unix(1700000000, 5)
	rec := Entry{Path: "old/f", Type: TypeFile, Size: 3, MTime: t0, FileID: "64:12"}
	here := map[string]*Entry{
		"64:12": {Path: "new/f", Type: TypeFile, Size: 3, MTime: t0, FileID: "64:12"},
		"64:13": {Path: "reused", Type: TypeFile, Size: 3, MTime: t0.Add(time.Second), FileID: "64:13"},
	}
	for _, tc := range []struct {
		r    Entry
		want bool
	}{
		{rec, true},
		{Entry{Path: "g", Type: TypeFile, Size: 3, MTime: t0, FileID: "64:13"}, false}, // a reused inode
		{Entry{Path: "h", Type: TypeFile, Size: 3, MTime: t0}, false},                  // no file ID
		{Entry{Path: "d", Type: TypeDir, MTime: t0, FileID: "64:12"}, false},           // another type
	} {
		if got := movedFrom(&tc.r, here); got != tc.want {
			t.Errorf("movedFrom(%+v) = %v, want %v", tc.r, got, tc.want)
		}
	}
	if movedFrom(&rec, nil) {
		t.Errorf("movedFrom without a scan map")
	}
}
