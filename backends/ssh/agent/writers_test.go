package agent

import (
	"strings"
	"testing"

	"github.com/async-sync/async/backends/ssh/protocol"
)

// TestAgentWriterFree: a new writer is refused under a handle in use and
// beyond maxOpenFiles open writers (CREATESYNC and DATACREATE ask it).
func TestAgentWriterFree(t *testing.T) {
	a := &agent{writers: map[uint64]*agentWriter{}}
	if err := a.writerFree(1); err != nil {
		t.Fatalf("a free handle: %v", err)
	}
	a.writers[1] = &agentWriter{}
	if err := a.writerFree(1); err == nil || !strings.Contains(err.Error(), "used twice") {
		t.Errorf("a handle in use: %v, want an error about a handle used twice", err)
	}
	for h := uint64(2); h <= protocol.MaxOpenFiles; h++ {
		if err := a.writerFree(h); err != nil {
			t.Fatalf("writer %d of %d: %v", h, protocol.MaxOpenFiles, err)
		}
		a.writers[h] = &agentWriter{}
	}
	if err := a.writerFree(protocol.MaxOpenFiles + 1); err == nil || !strings.Contains(err.Error(), "files open for writing") {
		t.Errorf("one writer too many: %v, want an error about files open for writing", err)
	}
}
