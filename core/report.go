package core

// Per-entry statuses printed as each action finishes (reference §6).
const (
	ReportDone     = "SYNCHRONIZED"      // transferred or created
	ReportExists   = "SYNCHRONIZED(exs)" // already identical on both sides
	ReportSkipped  = "SYNCHRONIZED(skp)" // skipped
	ReportDeleted  = "SYNCHRONIZED(del)" // deleted
	ReportMoved    = "SYNCHRONIZED(mov)" // renamed, moved, or attributes updated
	ReportDedup    = "SYNCHRONIZED(ddp)" // duplicate handled by --dedup
	ReportConflict = "CONFLICT"          // left alone on both sides
	ReportError    = "ERROR"             // failed; followed by ": reason"
)
