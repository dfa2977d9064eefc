package ssh

import "strconv"

// requestNames name the requests in trace records.
var requestNames = map[byte]string{
	opHello: "hello", opScan: "scan", opCancel: "cancel", opStat: "stat", opOpen: "open", opRead: "read",
	opCloseFile: "close", opCreate: "create", opWrite: "write", opCommit: "commit", opAbort: "abort",
	opKeep: "keep", opPut: "put", opMkdir: "mkdir", opRemove: "remove", opRename: "rename",
	opSetAttr: "setattr", opSymlink: "symlink", opLink: "link", opHash: "hash", opXattrs: "xattrs",
	opSetXattrs: "setxattrs", opStoreOpen: "store-open", opStoreMeta: "store-meta",
	opStoreSetMeta: "store-setmeta", opStoreLoad: "store-load", opStorePut: "store-put",
	opStoreDelete: "store-delete", opStoreFlush: "store-flush", opStoreClose: "store-close",
	opSnapshot: "snapshot", opCreateSync: "create-sync", opWatch: "watch",
}

func requestName(op byte) string {
	if n, ok := requestNames[op]; ok {
		return n
	}
	return "op" + strconv.Itoa(int(op))
}
