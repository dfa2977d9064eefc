package lifecycle

import "github.com/async-sync/async/core"

// Defaults say which of a session's policy choices it leaves to async.
type Defaults struct {
	// Continuous: the session follows changes (-C).
	Continuous bool
	// ChecksumGiven: the user chose the checksum; it is kept.
	ChecksumGiven bool
}

// RoundPolicy returns the policy a run of a session uses between backends
// with the capabilities caps (local, remote): p with what the mode and
// the backends decide filled in. Continuous mode sees moves as events:
// they become renames at the other side (where inodes tell them), not
// copies. A checksum not given is sha1_sparse when both backends are
// file systems and none when either is a bucket or a plugin, where
// fingerprinting means reading every object back (docs/reference.md
// §5.6).
func RoundPolicy(p core.Policy, caps [2]core.Caps, d Defaults) core.Policy {
	if d.Continuous {
		p.RenameFiles, p.RenameDirs = true, true
	}
	if !d.ChecksumGiven {
		p.Checksum = core.ChecksumNone
		if caps[core.Local].Filesystem && caps[core.Remote].Filesystem {
			p.Checksum = core.ChecksumSHA1Sparse
		}
	}
	return p
}
