package greptimedb_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"tsdb-platform/tests/objects"
)

// TestBadObservabilityConfig: log filters, tracing and the slow query log are
// refused with their key, the value and what is allowed.
func TestBadObservabilityConfig(t *testing.T) {
	logging := func(l map[string]any) map[string]any { return map[string]any{"logging": l} }
	tracing := func(tr map[string]any) map[string]any {
		return logging(map[string]any{"tracing": tr})
	}
	slow := func(s map[string]any) map[string]any {
		return map[string]any{"frontend": map[string]any{"slowQuery": s}}
	}
	cases := []struct {
		name    string
		cluster map[string]any
		key     string
		message string
	}{
		{"filter of an unknown level", logging(map[string]any{"filters": map[string]any{"opendal": "loud"}}),
			"greptimedb[0].logging.filters.opendal", "allowed: error, warn, info, debug, trace"},
		{"filter of no target", logging(map[string]any{"filters": map[string]any{"open dal": "warn"}}),
			"greptimedb[0].logging.filters.open dal", "not a log target"},
		{"tracing without endpoint", tracing(map[string]any{"enabled": true}),
			"greptimedb[0].logging.tracing.endpoint", "required with tracing"},
		{"tracing to no URL", tracing(map[string]any{"enabled": true, "endpoint": "otel:4318"}),
			"greptimedb[0].logging.tracing.endpoint", "not an http(s) URL"},
		{"unknown tracing protocol", tracing(map[string]any{"enabled": true, "endpoint": "http://otel:4318/v1/traces", "protocol": "thrift"}),
			"greptimedb[0].logging.tracing.protocol", "allowed: http, grpc"},
		{"tracing sample ratio above 1", tracing(map[string]any{"enabled": true, "endpoint": "http://otel:4318/v1/traces", "sampleRatio": 2}),
			"greptimedb[0].logging.tracing.sampleRatio", "from 0 (none) to 1"},
		{"unknown slow query record type", slow(map[string]any{"recordType": "table"}),
			"greptimedb[0].frontend.slowQuery.recordType", "allowed: system_table, log"},
		{"slow query threshold without unit", slow(map[string]any{"threshold": "30"}),
			"greptimedb[0].frontend.slowQuery.threshold", "a duration such as"},
		{"slow query sample ratio of 0", slow(map[string]any{"sampleRatio": 0}),
			"greptimedb[0].frontend.slowQuery.sampleRatio", "above 0"},
		{"slow query table through the overlay", map[string]any{"frontend": map[string]any{"config": map[string]any{"slow_query": map[string]any{"threshold": "1s"}}}},
			"greptimedb[0].frontend.config.slow_query.threshold", "set greptimedb[0].frontend.slowQuery instead"},
		{"tracing through the overlay", map[string]any{"datanode": map[string]any{"config": map[string]any{"logging": map[string]any{"enable_otlp_tracing": true}}}},
			"greptimedb[0].datanode.config.logging.enable_otlp_tracing", "set greptimedb[0].logging.tracing.enabled instead"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cerr := rejected(t, tc.cluster)
			assert.Equal(t, []string{tc.key}, cerr.Keys())
			assert.Contains(t, cerr.Error(), tc.message)
		})
	}
}

// TestObservabilityConfig: filters join the level directive, tracing is in
// every component's [logging] and opens egress to the collector's port, and
// the frontends' [slow_query] carries the typed keys.
func TestObservabilityConfig(t *testing.T) {
	res := objects.Run(t, config(t, []map[string]any{{
		"name": "metrics",
		"logging": map[string]any{
			"filters": map[string]any{"opendal": "warn", "hyper": "error"},
			"tracing": map[string]any{"enabled": true, "endpoint": "http://otel.observability:4318/v1/traces", "sampleRatio": 0.25},
		},
		"frontend": map[string]any{"slowQuery": map[string]any{"recordType": "log", "threshold": "10s", "sampleRatio": 0.5, "ttl": "30d"}},
		"flownode": map[string]any{"enabled": true},
	}}, map[string]string{"networkPolicy": `{"enabled": true}`}))
	for _, c := range []string{"meta", "datanode", "frontend", "flownode"} {
		logging := tomlConfig(t, objects.ConfigMap(t, res, "metrics-"+c+"-config"))["logging"].(map[string]any)
		assert.Equal(t, "info,hyper=error,opendal=warn", logging["level"], c)
		assert.Equal(t, true, logging["enable_otlp_tracing"], c)
		assert.Equal(t, "http://otel.observability:4318/v1/traces", logging["otlp_endpoint"], c)
		assert.Equal(t, "http", logging["otlp_export_protocol"], c)
		assert.Equal(t, map[string]any{"default_ratio": 0.25}, logging["tracing_sample_ratio"], c)
		assert.Contains(t, egressTo(objects.NetworkPolicy(t, res, "metrics-"+c))["*"], int32(4318), "%s reaches the collector", c)
	}
	assert.Equal(t, map[string]any{"enable": true, "record_type": "log", "threshold": "10s", "sample_ratio": 0.5, "ttl": "30d"},
		tomlConfig(t, objects.ConfigMap(t, res, "metrics-frontend-config"))["slow_query"])

	plain := runCluster(t, nil)
	logging := tomlConfig(t, objects.ConfigMap(t, plain, "metrics-meta-config"))["logging"].(map[string]any)
	assert.Equal(t, "info", logging["level"])
	assert.NotContains(t, logging, "enable_otlp_tracing", "no tracing keys without tracing")
}
