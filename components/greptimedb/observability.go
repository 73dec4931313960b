package greptimedb

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	"tsdb-platform/components/kube"
)

// Tracing is OTLP tracing of every component: GreptimeDB v1.1.4's
// logging.enable_otlp_tracing, otlp_endpoint, otlp_export_protocol and
// tracing_sample_ratio.default_ratio (src/common/telemetry/src/logging.rs
// LoggingOptions, src/common/telemetry/src/tracing_sampler.rs).
type Tracing struct {
	Enabled bool `json:"enabled"`
	// Endpoint is the collector's http(s) URL (with /v1/traces for the http
	// protocol). The exporter panics on a bad one, so it is validated.
	Endpoint string `json:"endpoint"`
	// Protocol is one of TracingProtocols.
	Protocol string `json:"protocol"`
	// SampleRatio is the share of traces exported, 0 to 1.
	SampleRatio float64 `json:"sampleRatio"`
}

// TracingProtocols are the OTLP export protocols (OtlpExportProtocol, snake_case).
var TracingProtocols = []string{"http", "grpc"}

// SlowQuery is the frontends' slow query log: GreptimeDB v1.1.4's
// [slow_query] (src/common/telemetry/src/logging.rs SlowQueryOptions; only the
// frontend has it, src/frontend/src/frontend.rs FrontendOptions).
type SlowQuery struct {
	Enabled bool `json:"enabled"`
	// RecordType is one of SlowQueryRecordTypes: the greptime_private.slow_queries
	// table, or a greptimedb-slow-queries.* file in the log directory.
	RecordType string `json:"recordType"`
	// Threshold and TTL are humantime durations (30s, 90d).
	Threshold string `json:"threshold"`
	// SampleRatio is the share of slow queries recorded, above 0 up to 1.
	SampleRatio float64 `json:"sampleRatio"`
	TTL         string  `json:"ttl"`
}

// SlowQueryRecordTypes are where slow queries go (SlowQueriesRecordType, snake_case).
var SlowQueryRecordTypes = []string{"system_table", "log"}

var (
	// logTarget is a tracing target: a Rust module path such as opendal or mito2::sst.
	logTarget = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(::[A-Za-z_][A-Za-z0-9_]*)*$`)
	// humantimeDuration is the part of humantime's syntax the program accepts: 500ms, 30s, 1h30m, 90d.
	humantimeDuration = regexp.MustCompile(`^([1-9][0-9]*(ms|s|m|h|d)|0(ms|s|m|h|d))+$`)
)

// validateFilters checks the per-target levels.
func validateFilters(filters map[string]string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, target := range slices.Sorted(maps.Keys(filters)) {
		at := p.Child(target)
		if !logTarget.MatchString(target) {
			errs = append(errs, field.Invalid(at, target, "not a log target: a Rust module path such as opendal or mito2::sst"))
		}
		if !slices.Contains(LogLevels, filters[target]) {
			errs = append(errs, field.Invalid(at, filters[target], "allowed: "+strings.Join(LogLevels, ", ")))
		}
	}
	return errs
}

// levelDirective is logging.level: the level, then each target's, which
// GreptimeDB parses as tracing-subscriber Targets ("info,opendal=warn";
// logging.rs init_global_logging).
func levelDirective(l Logging) string {
	parts := []string{l.Level}
	for _, target := range slices.Sorted(maps.Keys(l.Filters)) {
		parts = append(parts, target+"="+l.Filters[target])
	}
	return strings.Join(parts, ",")
}

// Validate checks tracing when it is on.
func (t Tracing) Validate(p *field.Path) field.ErrorList {
	if !t.Enabled {
		return nil
	}
	var errs field.ErrorList
	if t.Endpoint == "" {
		errs = append(errs, field.Invalid(p.Child("endpoint"), "", fmt.Sprintf(
			"required with tracing (GreptimeDB's default, localhost, is no collector in a pod): "+
				"`pulumi config set --path '%s' http://otel-collector.observability.svc:4318/v1/traces`", p.Child("endpoint"))))
	} else if err := validateEndpoint(t.Endpoint); err != nil {
		errs = append(errs, field.Invalid(p.Child("endpoint"), t.Endpoint, err.Error()+"; want e.g. http://otel-collector.observability.svc:4318/v1/traces"))
	}
	if !slices.Contains(TracingProtocols, t.Protocol) {
		errs = append(errs, field.Invalid(p.Child("protocol"), t.Protocol, "allowed: "+strings.Join(TracingProtocols, ", ")))
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		errs = append(errs, field.Invalid(p.Child("sampleRatio"), t.SampleRatio, "must be from 0 (none) to 1 (every trace)"))
	}
	return errs
}

// egress lets the pods reach the collector's port, at an address the program
// cannot know (none without tracing).
func (t Tracing) egress() []kube.Flow {
	if !t.Enabled {
		return nil
	}
	port, err := objectStorePort(t.Endpoint)
	if err != nil {
		return nil
	}
	return []kube.Flow{kube.Allow([]int{port})}
}

// Validate checks the slow query log.
func (s SlowQuery) Validate(p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if !slices.Contains(SlowQueryRecordTypes, s.RecordType) {
		errs = append(errs, field.Invalid(p.Child("recordType"), s.RecordType, "allowed: "+strings.Join(SlowQueryRecordTypes, ", ")))
	}
	for _, d := range []struct{ key, value string }{{"threshold", s.Threshold}, {"ttl", s.TTL}} {
		if !humantimeDuration.MatchString(d.value) {
			errs = append(errs, field.Invalid(p.Child(d.key), d.value, "a duration such as 500ms, 30s, 1h30m or 90d"))
		}
	}
	if s.SampleRatio <= 0 || s.SampleRatio > 1 {
		errs = append(errs, field.Invalid(p.Child("sampleRatio"), s.SampleRatio, "must be above 0 and at most 1 (every slow query)"))
	}
	return errs
}

// slowQueryConfig is the frontends' [slow_query] table.
type slowQueryConfig struct {
	Enable      bool    `toml:"enable"`
	RecordType  string  `toml:"record_type"`
	Threshold   string  `toml:"threshold"`
	SampleRatio float64 `toml:"sample_ratio"`
	TTL         string  `toml:"ttl"`
}

func newSlowQueryConfig(s SlowQuery) slowQueryConfig {
	return slowQueryConfig{Enable: s.Enabled, RecordType: s.RecordType, Threshold: s.Threshold, SampleRatio: s.SampleRatio, TTL: s.TTL}
}

// sampleRatioConfig is [logging.tracing_sample_ratio].
type sampleRatioConfig struct {
	DefaultRatio float64 `toml:"default_ratio"`
}
