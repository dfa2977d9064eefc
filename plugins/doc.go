// Package plugins runs async backends that live in separate programs:
// third-party plugins built against this module and started on demand.
//
// A plugin is an executable named async-backend-SCHEME. It implements
// core.Backend and calls Serve from its main; async finds it with Find,
// starts it with Open and talks to it over gRPC (hashicorp/go-plugin, the
// protocol in plugins/proto/backend.proto). The returned backend behaves
// like an in-process one: errors keep their meaning for errors.Is
// (fs.ErrNotExist, core.ErrPrecondition, ...), scans stream in batches, a
// file of up to 1 MiB is read or written in one round trip, and larger
// files stream in chunks of 1 MiB. It has exactly the optional interfaces
// of the plugin's backend (core.Linker, core.Hasher, core.HardLinker,
// core.Xattrer, core.Copier, core.Watcher), which the plugin reports when
// its backend opens (core.Mask); a plugin built before some of them were
// carried reports none of those, and has none.
//
// Discovery: Dirs lists where plugins are looked for (--plugin-dir,
// $ASYNC_PLUGIN_DIR, ~/.config/async/plugins, the async binary's
// directory), Find picks the first async-backend-SCHEME there, and List
// reports every installed plugin with the protocol version it announces in
// its handshake (each is started for the handshake only, then stopped).
//
// Plugins and async agree on ProtocolVersion in a handshake; a plugin built
// for another version is refused with an error naming both versions.
package plugins
