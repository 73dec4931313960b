package upstream

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestInvocations: the known binaries are found on a command line, behind an
// image's entrypoint and in every simple command of a `sh -c` script.
func TestInvocations(t *testing.T) {
	known := []string{Greptime, Etcd, Etcdctl}
	cases := map[string]struct {
		entrypoint    string
		command, args []string
		want          []invocation
	}{
		"direct": {"", []string{"/usr/local/bin/etcd"}, []string{"--name=$(POD_NAME)"},
			[]invocation{{Etcd, []string{"--name=$(POD_NAME)"}}}},
		"entrypoint": {Greptime, nil, []string{"metasrv", "start", "-c", "/c.toml"},
			[]invocation{{Greptime, []string{"metasrv", "start", "-c", "/c.toml"}}}},
		"script": {"", []string{"/bin/sh", "-c", "set -e; until wget -q x; do sleep 2; done\n" +
			"A=1 exec greptime datanode start --node-id ${POD_NAME##*-} --config-file '/etc/a b.toml' && etcdctl --endpoints=\"e:2379\" snapshot save /s.db | tee log"}, nil,
			[]invocation{
				{Greptime, []string{"datanode", "start", "--node-id", "${POD_NAME##*-}", "--config-file", "/etc/a b.toml"}},
				{Etcdctl, []string{"--endpoints=e:2379", "snapshot", "save", "/s.db"}},
			}},
		"unknown binary": {"", []string{"wget", "-q", "-O", "-"}, nil, nil},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, invocations(tc.entrypoint, tc.command, tc.args, known))
		})
	}
}

// TestFlagsOf: flags without their values; values and positional words are not flags.
func TestFlagsOf(t *testing.T) {
	assert.Equal(t, []string{"--a", "-c", "--d"}, flagsOf([]string{"--a=1", "start", "-c", "/c", "--d", "x", "-", "--"}))
}
