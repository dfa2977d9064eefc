package protocol

import "strconv"

// requestNames name the requests in trace records.
var requestNames = map[byte]string{
	OpHello: "hello", OpScan: "scan", OpCancel: "cancel", OpStat: "stat", OpOpen: "open", OpRead: "read",
	OpCloseFile: "close", OpCreate: "create", OpWrite: "write", OpCommit: "commit", OpAbort: "abort",
	OpKeep: "keep", OpPut: "put", OpMkdir: "mkdir", OpRemove: "remove", OpRename: "rename",
	OpSetAttr: "setattr", OpSymlink: "symlink", OpLink: "link", OpHash: "hash", OpXattrs: "xattrs",
	OpSetXattrs: "setxattrs", OpStoreOpen: "store-open", OpStoreMeta: "store-meta",
	OpStoreSetMeta: "store-setmeta", OpStoreLoad: "store-load", OpStorePut: "store-put",
	OpStoreDelete: "store-delete", OpStoreFlush: "store-flush", OpStoreClose: "store-close",
	OpSnapshot: "snapshot", OpCreateSync: "create-sync", OpWatch: "watch",
	OpJournal: "journal", OpLoadPaths: "store-loadpaths", OpCredit: "credit",
}

// RequestName names an operation for trace records.
func RequestName(op byte) string {
	if n, ok := requestNames[op]; ok {
		return n
	}
	return "op" + strconv.Itoa(int(op))
}
