package snapshot

import (
	"slices"
)

// changesMaxBytes bounds the record writes a DB keeps to write its next
// dump from the last one (changeSet). Beyond it Close reads Badger whole,
// as it does without a dump to start from.
const changesMaxBytes = 32 << 20

// changeSet holds the record writes made since a Load streamed a current
// dump: each written key with its last value (nil for a delete). With
// them, Close writes the next dump by merging the last one with these
// writes, instead of iterating Badger, whose tables it maps: reading them
// all added the size of the snapshot to the resident memory of every run
// that changed something (a million-record snapshot: about 120 MB).
//
// A changeSet is off (base nil) until a Load streams a current dump, and
// off again for good once a write fails (part of its batch may be in
// Badger) or the writes outgrow max bytes.
type changeSet struct {
	base   []byte            // stamp of the dump the writes apply to; nil: off
	writes map[string][]byte // key → value; nil value: a delete
	size   int               // bytes held in writes, about
	max    int               // the bound on size
}

// start turns tracking on from the dump stamped stamp, unless it is on
// already (a second Load of the same dump: nothing was written between).
func (c *changeSet) start(stamp []byte) {
	if c.base != nil || c.max <= 0 {
		return
	}
	c.base, c.writes, c.size = stamp, map[string][]byte{}, 0
}

// add records a batch that reached Badger; later writes to a key replace
// earlier ones, as in Badger.
func (c *changeSet) add(batch []pendingWrite) {
	if c.base == nil {
		return
	}
	for _, w := range batch {
		old, seen := c.writes[string(w.key)]
		if seen {
			c.size -= len(old)
		} else {
			c.size += len(w.key) + 48 // the key's copy and the map's slot
		}
		c.writes[string(w.key)] = w.val
		c.size += len(w.val)
	}
	if c.size > c.max {
		c.drop()
	}
}

// drop turns tracking off until the DB is closed: Close reads Badger.
func (c *changeSet) drop() {
	c.base, c.writes, c.size, c.max = nil, nil, 0, 0
}

// sortedKeys returns the written keys in Badger's key order.
func (c *changeSet) sortedKeys() []string {
	keys := make([]string, 0, len(c.writes))
	for k := range c.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
