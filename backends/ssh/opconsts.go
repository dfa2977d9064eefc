package ssh

// Snapshot actions (opSnapshot).
const (
	snapExists = iota + 1
	snapRemove
	snapCopy
)

// Frame types on the data path's streams (docs/datapath.md).
const (
	dpWrite byte = 1 + iota // client → agent: handle, offset, bytes
	dpRead                  // client → agent: request id, handle, offset
	dpData                  // agent → client: request id, eof, bytes
	dpError                 // agent → client: request id, error
	dpCall                  // client → agent: request id, op (PUT or OPEN), its payload
	dpReply                 // agent → client: request id, op of the reply, its payload
)
