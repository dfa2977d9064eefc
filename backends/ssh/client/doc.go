// Package client is the SSH backend's client: a core.Backend (and a
// snapshot store) over the agent protocol, on a connection package ssh
// opened and started an agent on, or on any reader and writer (New). It
// pipelines requests, reads ahead, and moves large files over the data
// path when one is open.
package client
