package protocol

// Snapshot actions (opSnapshot).
const (
	SnapExists = iota + 1
	SnapRemove
	SnapCopy
)

// Frame types on the data path's streams (docs/datapath.md).
const (
	DPWrite byte = 1 + iota // client → agent: handle, offset, bytes
	DPRead                  // client → agent: request id, handle, offset
	DPData                  // agent → client: request id, eof, bytes
	DPError                 // agent → client: request id, error
	DPCall                  // client → agent: request id, op (PUT or OPEN), its payload
	DPReply                 // agent → client: request id, op of the reply, its payload
)
