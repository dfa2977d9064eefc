package main

import (
	"os"
	"os/user"
	"path/filepath"
	"sync"
)

// environ is what a sync takes from its environment besides the command
// line. It is read once, as the command line is parsed, and handed on
// with the instance: nothing reads configuration from the environment
// while endpoints open. (Test hooks, ASYNC_TEST_*, are read where they
// act.) It holds secrets: never print or log it.
type environ struct {
	// stateDir is async's own state directory: $XDG_STATE_HOME/async,
	// else ~/.local/state/async.
	stateDir string
	// pluginConfig is the file that pins plugin checksums:
	// $ASYNC_PLUGIN_CONFIG, else ~/.config/async/plugins.conf ("": none).
	pluginConfig string
	// pluginPath is $ASYNC_PLUGIN_DIR, a path list of plugin directories.
	pluginPath string
	// login returns the local user name, the default SSH login: the
	// account's name (looked up on first use, not at every start: the
	// lookup goes through the system's name services), else $USER.
	login func() string
	// sshPassword, sshToken and sshCookie are ASPERA_SCP_PASS, _TOKEN and
	// _COOKIE: the SSH password, the access-key token and the cookie
	// passed to the agent (docs/reference.md §8).
	sshPassword, sshToken, sshCookie string
	// sshAgent is SSH_AUTH_SOCK: the ssh-agent whose keys are offered.
	sshAgent string
	// agentBinary is ASYNC_AGENT_BINARY: the agent program installed on
	// servers instead of this one (for clients that cannot run on the
	// server's platform).
	agentBinary string
}

// readEnviron reads the environment through getenv (os.Getenv).
func readEnviron(getenv func(string) string) environ {
	e := environ{stateDir: stateDirFrom(getenv), pluginConfig: getenv("ASYNC_PLUGIN_CONFIG"),
		pluginPath:  getenv("ASYNC_PLUGIN_DIR"),
		sshPassword: getenv(envPass), sshToken: getenv(envToken), sshCookie: getenv(envCookie), agentBinary: getenv(envAgent), sshAgent: getenv("SSH_AUTH_SOCK")}
	envUser := getenv("USER")
	e.login = sync.OnceValue(func() string {
		if u, err := user.Current(); err == nil {
			return u.Username
		}
		return envUser
	})
	if e.pluginConfig == "" {
		if home, err := os.UserHomeDir(); err == nil {
			e.pluginConfig = filepath.Join(home, ".config", "async", "plugins.conf")
		}
	}
	return e
}

// stateDirFrom is async's own state directory in the environment getenv
// reads.
func stateDirFrom(getenv func(string) string) string {
	if x := getenv("XDG_STATE_HOME"); x != "" {
		return filepath.Join(x, "async")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "async-state")
	}
	return filepath.Join(home, ".local", "state", "async")
}

// stateDir is async's own state directory, for the commands that read
// their environment as they start (async server, async watchd).
func stateDir() string { return stateDirFrom(os.Getenv) }

// user is the local user name, the default SSH login ("" when the
// environment was not read).
func (e environ) user() string {
	if e.login == nil {
		return ""
	}
	return e.login()
}
