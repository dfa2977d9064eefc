package progress

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Snapshot is what one session's block shows.
type Snapshot struct {
	Name string // the session
	// Status, when set, is shown instead of the progress: continuous mode
	// between rounds ("following changes: last sync ...").
	Status string
	// Planning: scanning and planning, the totals are not known yet.
	Planning bool

	Files, FilesTotal int64
	Bytes, BytesTotal int64
	Rate              float64 // bytes per second, recent
	Deleted           int64
	Conflicts, Errors int64
	// Hidden counts the per-entry lines not shown because they came too
	// fast to read.
	Hidden   int64
	InFlight []Flight // files being transferred, longest running first
}

// Flight is a file being transferred.
type Flight struct {
	Path       string // as shown
	Size, Done int64
}

// bigFile is the size from which a file in flight gets its own bar.
const bigFile = 1 << 20

// maxFlights is how many files in flight a block lists at most.
const maxFlights = 4

// Render lays out the blocks of the given sessions for a terminal of cols
// columns and rows rows. Narrow or short terminals get one line per
// session. Lines may be longer than cols; the display cuts them.
func Render(snaps []Snapshot, cols, rows int) []string {
	compact := cols < 60 || rows < 10
	// Each session's block may take an equal share of half the screen.
	share := max(1, rows/2/max(1, len(snaps)))
	var out []string
	for _, s := range snaps {
		left := share
		switch {
		case s.Status != "":
			out = append(out, s.Name+": "+s.Status+hiddenNote(s.Hidden, compact))
		case s.Planning:
			out = append(out, s.Name+": scanning and planning…")
		case compact || left < 2:
			out = append(out, compactLine(s))
		default:
			out = append(out, mainLine(s, cols-1))
			out = append(out, countersLine(s))
			for _, f := range s.InFlight[:min(len(s.InFlight), maxFlights, left-2)] {
				out = append(out, flightLine(f, cols-1))
			}
		}
	}
	return out
}

func hiddenNote(n int64, compact bool) string {
	if n == 0 {
		return ""
	}
	if compact {
		return ", " + Group(n) + " not shown"
	}
	return " · " + Group(n) + " lines not shown"
}

// percent is how far a session is, by bytes, else by files; -1: unknown.
func percent(s Snapshot) float64 {
	switch {
	case s.BytesTotal > 0:
		return min(1, float64(s.Bytes)/float64(s.BytesTotal))
	case s.FilesTotal > 0:
		return min(1, float64(s.Files)/float64(s.FilesTotal))
	}
	return -1
}

func eta(s Snapshot) string {
	left := s.BytesTotal - s.Bytes
	if left <= 0 {
		return ""
	}
	if s.Rate <= 0 {
		return "ETA --"
	}
	return "ETA " + Duration(time.Duration(float64(left)/s.Rate*float64(time.Second)))
}

// mainLine: "job1: 1,234/20,000 files · 31.5 MiB/414.4 MiB [====>   ] 8% · 7.1 MiB/s · ETA 53s",
// with the bar taking what width is left.
func mainLine(s Snapshot, width int) string {
	head := fmt.Sprintf("%s: %s/%s files · %s/%s ", s.Name, Group(s.Files), Group(s.FilesTotal), Size(s.Bytes), Size(s.BytesTotal))
	tail := ""
	p := percent(s)
	if p >= 0 {
		tail = fmt.Sprintf(" %3.0f%%", 100*p)
	}
	tail += " · " + Size(int64(s.Rate)) + "/s"
	if e := eta(s); e != "" {
		tail += " · " + e
	}
	room := width - Width(head) - Width(tail)
	if p < 0 || room < 8 {
		return strings.TrimSuffix(head, " ") + tail
	}
	return head + bar(p, min(room, 42)) + tail
}

func countersLine(s Snapshot) string {
	line := fmt.Sprintf("  deleted %s · conflicts %s · errors %s", Group(s.Deleted), Group(s.Conflicts), Group(s.Errors))
	if s.Hidden > 0 {
		line += " · " + Group(s.Hidden) + " lines not shown (all in the log; -v shows them)"
	}
	return line
}

func flightLine(f Flight, width int) string {
	if f.Size < bigFile {
		return "  " + fitMiddle(f.Path, width-2)
	}
	p := float64(f.Done) / float64(f.Size)
	tail := fmt.Sprintf(" %3.0f%% %s/%s", 100*p, Size(f.Done), Size(f.Size))
	barW := min(24, max(8, width/4))
	name := fitMiddle(f.Path, max(10, width-2-1-barW-Width(tail)))
	return "  " + name + " " + bar(p, barW) + tail
}

// compactLine: "job1: 1,234/20,000 8% 7.1 MiB/s ETA 53s, 2 errors".
func compactLine(s Snapshot) string {
	line := fmt.Sprintf("%s: %s/%s", s.Name, Group(s.Files), Group(s.FilesTotal))
	if p := percent(s); p >= 0 {
		line += fmt.Sprintf(" %.0f%%", 100*p)
	}
	line += " " + Size(int64(s.Rate)) + "/s"
	if e := eta(s); e != "" {
		line += " " + e
	}
	if s.Errors > 0 {
		line += ", " + Group(s.Errors) + " err"
	}
	if s.Conflicts > 0 {
		line += ", " + Group(s.Conflicts) + " cfl"
	}
	return line
}

// bar draws "[=====>    ]" w characters wide for a fraction p.
func bar(p float64, w int) string {
	in := w - 2
	n := int(p * float64(in))
	n = min(max(n, 0), in)
	b := strings.Repeat("=", n)
	if n < in {
		b += ">" + strings.Repeat(" ", in-n-1)
	}
	return "[" + b + "]"
}

// Group writes n with thousands separators.
func Group(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// Size writes a byte count with binary units.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n), 0
	for v >= unit && i < 4 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGTP"[i-1])
}

// Duration writes an estimate: "53s", "4m05s", "2h07m".
func Duration(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 100*3600:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return ">99h"
}

// Meter is a transfer rate over the last few seconds (an exponentially
// weighted average), not since the start.
type Meter struct {
	last  time.Time
	bytes int64
	rate  float64
	warm  bool
}

// Update takes the bytes done by now and returns the recent rate, in
// bytes per second.
func (m *Meter) Update(bytes int64, now time.Time) float64 {
	if !m.last.IsZero() {
		if dt := now.Sub(m.last).Seconds(); dt > 0 {
			inst := float64(bytes-m.bytes) / dt
			w := min(1, dt/3) // about three seconds of memory
			if !m.warm {
				w, m.warm = 1, true // the first measure stands alone
			}
			m.rate = m.rate*(1-w) + inst*w
		}
	}
	m.last, m.bytes = now, bytes
	return m.rate
}
