package quasardb

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The image's entrypoint, qdbd-docker-wrapper.sh, turns environment variables
// into qdbd.conf keys (bureau14/qdb-docker at "Release 3.14.1", e27ab36,
// 3.14/default/qdb/qdbd-docker-wrapper.sh; the Dockerfile beside it declares
// them). It splices each value into a jq program (patch_conf: `jq "<key> |=
// <value>"`), numbers bare and strings inside double quotes, so every value the
// program passes is validated to be a plain number, a name from a fixed set, or
// a string without quotes or backslashes. The variables the program sets are
// listed in tests/testdata/upstream/qdb-docker-3.14.1.env.
const (
	envLogLevel          = "QDB_LOG_LEVEL"                   // .local.logger.log_level
	envParallelism       = "QDB_PARALLELISM"                 // .local.network.parallelism
	envSessions          = "QDB_TOTAL_SERVER_SESSIONS"       // .local.network.total_server_sessions
	envRocksDBThreads    = "QDB_ROCKSDB_THREADS"             // .local.depot.rocksdb.threads (compaction)
	envRocksDBHiThreads  = "QDB_ROCKSDB_HI_THREADS"          // .local.depot.rocksdb.hi_threads (flush)
	envTableMemoryBudget = "QDB_ROCKSDB_TABLE_MEMORY_BUDGET" // .local.depot.rocksdb.table_memory_budget, bytes
)

// LogLevel is qdbd's log verbosity by name.
type LogLevel string

// logLevels are the names of local.logger.log_level's values, by value: "0 =
// detailed (most output), 1 = debug, 2 = info (default), 3 = warning, 4 =
// error, 5 = panic (least output)" (QuasarDB's qdbd reference,
// source/reference/qdbd.rst). The image sets 1 (debug) unless told otherwise.
var logLevels = []LogLevel{"detailed", "debug", "info", "warning", "error", "panic"}

// value is the level's number in qdbd.conf.
func (l LogLevel) value() int { return slices.Index(logLevels, l) }

// Validate accepts the level names.
func (l LogLevel) Validate(p *field.Path) field.ErrorList {
	if l.value() >= 0 {
		return nil
	}
	names := make([]string, len(logLevels))
	for i, n := range logLevels {
		names[i] = string(n)
	}
	return field.ErrorList{field.NotSupported(p, string(l), names)}
}

// Tuning are the daemon's thread, session and memory settings. Zero (or an
// empty budget) leaves a setting to qdbd: the program then does not pass it.
type Tuning struct {
	// Parallelism is the number of worker threads serving requests (left to
	// itself, qdbd sizes it from the machine's cores, not the container's CPU limit).
	Parallelism int `json:"parallelism"`
	// Sessions is the total number of server sessions (simultaneous clients).
	Sessions int `json:"sessions"`
	// RocksDBThreads run RocksDB's compactions; RocksDBHiThreads its flushes.
	RocksDBThreads   int `json:"rocksdbThreads"`
	RocksDBHiThreads int `json:"rocksdbHiThreads"`
	// TableMemoryBudget is RocksDB's memory for the tables' write buffers, a
	// Kubernetes quantity ("512Mi"). It must fit under the memory limiter.
	TableMemoryBudget string `json:"tableMemoryBudget"`
}

// Upper bounds that catch a misplaced digit; nothing upstream sets them.
const (
	maxThreads  = 1024
	maxSessions = 1 << 20
)

// validate checks each setting; the budget against the memory limiter's soft
// limit, which is derived from the container's memory limit (limiter; ok false
// when that limit is itself invalid and already reported).
func (t Tuning) validate(p *field.Path, limiter MemoryLimiter, ok bool, memoryLimitPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		key   string
		value int
		max   int
		what  string
	}{
		{"parallelism", t.Parallelism, maxThreads, "worker threads"},
		{"sessions", t.Sessions, maxSessions, "server sessions"},
		{"rocksdbThreads", t.RocksDBThreads, maxThreads, "compaction threads"},
		{"rocksdbHiThreads", t.RocksDBHiThreads, maxThreads, "flush threads"},
	} {
		if f.value < 0 || f.value > f.max {
			errs = append(errs, field.Invalid(p.Child(f.key), f.value, fmt.Sprintf(
				"must be between 1 and %d %s, or 0 to leave it to qdbd", f.max, f.what)))
		}
	}
	if t.TableMemoryBudget == "" {
		return errs
	}
	budget, err := resource.ParseQuantity(t.TableMemoryBudget)
	switch {
	case err != nil:
		errs = append(errs, field.Invalid(p.Child("tableMemoryBudget"), t.TableMemoryBudget,
			"not a Kubernetes quantity: want bytes such as 512Mi, or \"\" to leave it to qdbd"))
	case budget.Sign() <= 0:
		errs = append(errs, field.Invalid(p.Child("tableMemoryBudget"), t.TableMemoryBudget, "must be more than 0, or \"\" to leave it to qdbd"))
	case ok && budget.Value() > limiter.SoftBytes:
		errs = append(errs, field.Invalid(p.Child("tableMemoryBudget"), t.TableMemoryBudget, fmt.Sprintf(
			"must fit under QuasarDB's soft memory limit, %d%% of %s (%d bytes): lower it or raise %s",
			softLimitPercent, memoryLimitPath, limiter.SoftBytes, memoryLimitPath)))
	}
	return errs
}

// env are the wrapper's variables for the settings that are set.
func (t Tuning) env() (corev1.EnvVarArray, error) {
	var env corev1.EnvVarArray
	for _, f := range []struct {
		name  string
		value int
	}{
		{envParallelism, t.Parallelism},
		{envSessions, t.Sessions},
		{envRocksDBThreads, t.RocksDBThreads},
		{envRocksDBHiThreads, t.RocksDBHiThreads},
	} {
		if f.value > 0 {
			env = append(env, envValue(f.name, strconv.Itoa(f.value)))
		}
	}
	if t.TableMemoryBudget != "" {
		// The wrapper wants bytes.
		q, err := resource.ParseQuantity(t.TableMemoryBudget)
		if err != nil {
			return nil, fmt.Errorf("tuning.tableMemoryBudget %q: %w", t.TableMemoryBudget, err)
		}
		env = append(env, envValue(envTableMemoryBudget, strconv.FormatInt(q.Value(), 10)))
	}
	return env, nil
}

// jqSafe reports whether s can sit inside the double quotes the wrapper puts
// around a string value in its jq program.
func jqSafe(s string) bool { return !strings.ContainsAny(s, "\"\\\n\r") }
