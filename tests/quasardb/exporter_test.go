package quasardb_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"tsdb-platform/tests/objects"
)

// flagValue is the value of --name on a command line (as "--name value" or
// "--name=value"), and whether the flag is there.
func flagValue(line []string, name string) (string, bool) {
	for i, arg := range line {
		if v, ok := strings.CutPrefix(arg, name+"="); ok {
			return v, true
		}
		if arg == name && i+1 < len(line) {
			return line[i+1], true
		}
	}
	return "", false
}

// TestExporterListensOnAllAddresses: Prometheus and the kubelet's probes reach
// the exporter at the pod's IP, so it must not listen on loopback only, which
// qdb-prometheus-exporter v3.14.2 does unless told otherwise (--listen-address
// defaults to 127.0.0.1). Its port is the one the probes and the scrape use.
func TestExporterListensOnAllAddresses(t *testing.T) {
	for name, c := range map[string]cluster{
		"plain":   {"name": "ticks", "exporter": map[string]any{"enabled": true, "image": "registry.example.com/qdb-prometheus-exporter:3.14.2"}},
		"secured": cluster{"name": "ticks", "exporter": map[string]any{"enabled": true, "image": "registry.example.com/qdb-prometheus-exporter:3.14.2", "userSecuritySecretRef": map[string]any{"name": "qdb-exporter-user", "key": "user.key"}}}.withSecurity(),
	} {
		t.Run(name, func(t *testing.T) {
			res := run(t, stackConfig(t, c), false)
			exporter := objects.Container(t, objects.StatefulSet(t, res, "ticks").Spec.Template.Spec, "exporter")

			addr, ok := flagValue(exporter.Command, "--listen-address")
			require.True(t, ok, "the exporter listens on 127.0.0.1 without --listen-address: %q", exporter.Command)
			assert.Contains(t, []string{"0.0.0.0", "::"}, addr, "--listen-address must be every address, not %q", addr)

			port, ok := flagValue(exporter.Command, "--exporter-port")
			require.True(t, ok, "no --exporter-port: %q", exporter.Command)
			require.Len(t, exporter.Ports, 1)
			assert.Equal(t, strconv.Itoa(int(exporter.Ports[0].ContainerPort)), port, "the exporter listens where its port is declared")
			for probeName, probe := range map[string]*corev1.Probe{"readiness": exporter.ReadinessProbe, "liveness": exporter.LivenessProbe} {
				require.NotNil(t, probe, probeName)
				require.NotNil(t, probe.HTTPGet, probeName)
				assert.Equal(t, exporter.Ports[0].Name, probe.HTTPGet.Port.String(), "%s probe port", probeName)
			}
		})
	}
}
