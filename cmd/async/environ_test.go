package main

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReadEnviron: every variable a sync takes from its environment is
// read by readEnviron, through the getenv it is given, into the field the
// rest of the command uses.
func TestReadEnviron(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"XDG_STATE_HOME": "/state", "ASYNC_PLUGIN_CONFIG": "/etc/pins", "ASYNC_PLUGIN_DIR": "/p1:/p2",
		"ASPERA_SCP_PASS": "pw", "ASPERA_SCP_TOKEN": "Basic dDpz", "ASPERA_SCP_COOKIE": "c",
		"ASYNC_AGENT_BINARY": "/bin/agent", "SSH_AUTH_SOCK": "/run/agent.sock",
	}
	e := readEnviron(func(k string) string { return vars[k] })
	want := environ{stateDir: "/state/async", pluginConfig: "/etc/pins", pluginPath: "/p1:/p2",
		sshPassword: "pw", sshToken: "Basic dDpz", sshCookie: "c", agentBinary: "/bin/agent", sshAgent: "/run/agent.sock"}
	login := e.user()
	e.login = nil // the account's name, whatever the environment says
	if !reflect.DeepEqual(e, want) {
		t.Errorf("readEnviron = %+v,\nwant %+v", e, want)
	}
	if login == "" {
		t.Error("no user name")
	}
	// Unset: the defaults under the home directory.
	home, err := os.UserHomeDir()
	if err != nil {
		t.Skip(err)
	}
	e = readEnviron(func(string) string { return "" })
	if e.stateDir != filepath.Join(home, ".local", "state", "async") || e.pluginConfig != filepath.Join(home, ".config", "async", "plugins.conf") {
		t.Errorf("defaults: state %s, plugin config %s", e.stateDir, e.pluginConfig)
	}
}
