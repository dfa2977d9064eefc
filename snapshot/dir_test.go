package snapshot

import (
	"encoding/json"
	"testing"
	"time"
)

// TestStatusJSON: status.json is written as json.MarshalIndent would
// write it, whatever the status holds.
func TestStatusJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 12, 2, 6, 41, 9, 666_000_123, time.UTC)
	zone := time.FixedZone("X", -(3*3600 + 30*60))
	for _, s := range []Status{
		{},
		{State: "running", PID: 16271, Started: at, Updated: at.Add(time.Second)},
		{State: "stopped", PID: 1, Started: at.In(zone), Updated: at, LastSync: at, Counters: map[string]int64{}},
		{State: `quote " back \ <html> & ünï` + "\u2028\x01\xff", PID: -3, Counters: map[string]int64{
			"files": 12, "bytes": 1 << 40, "errors": -1, "<b>": 0, "é": 7, "": 2,
		}},
		{State: "error", Counters: map[string]int64{"one": 1}},
	} {
		got, err := s.appendJSON(nil)
		if err != nil {
			t.Fatalf("%+v: %v", s, err)
		}
		want, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("status %+v:\n got %s\nwant %s", s, got, want)
		}
	}
	// A time encoding/json refuses is refused alike.
	if _, err := (Status{Updated: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}).appendJSON(nil); err == nil {
		t.Error("a year past 9999 was encoded")
	}
}
