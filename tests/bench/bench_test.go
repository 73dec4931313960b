// Package bench_test measures what the program itself costs: evaluating
// stacks.Program under mocks for stacks of 1, 10 and 100 GreptimeDB clusters plus as
// many QuasarDB clusters (dev profile). `make bench` runs it and prints how the time
// grows from 10 to 100 clusters (linear growth is a ratio of about 10).
//
// Besides ns/op (wall time, which depends on what else runs on the machine) each
// benchmark reports cpu-ns/op, the process CPU time per evaluation (all threads,
// garbage collection included), and resources/op, the resources registered.
package bench_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"tsdb-platform/internal/mockrun"
	"tsdb-platform/stacks"
)

// Sizes are the cluster counts benchmarked, of each kind.
var sizes = []int{1, 10, 100}

// config returns n GreptimeDB and n QuasarDB clusters, everything else from the dev profile.
func config(b *testing.B, n int) map[string]string {
	var g, q []map[string]string
	for i := range n {
		g = append(g, map[string]string{"name": fmt.Sprintf("g%03d", i)})
		q = append(q, map[string]string{"name": fmt.Sprintf("q%03d", i)})
	}
	gj, err := json.Marshal(g)
	if err != nil {
		b.Fatal(err)
	}
	qj, err := json.Marshal(q)
	if err != nil {
		b.Fatal(err)
	}
	return map[string]string{"profile": stacks.ProfileDev, "kubeContext": "test", "greptimedb": string(gj), "quasardb": string(qj)}
}

func BenchmarkProgram(b *testing.B) {
	for _, n := range sizes {
		b.Run(fmt.Sprintf("greptimedb=%d", n), func(b *testing.B) {
			opts := mockrun.Options{Stack: "bench", Config: config(b, n)}
			b.ReportAllocs()
			resources, runs := 0, 0
			cpu := cpuTime()
			for b.Loop() {
				res, err := mockrun.Run(stacks.Program, opts)
				if err != nil {
					b.Fatal(err)
				}
				resources = len(res.Resources)
				runs++
			}
			b.ReportMetric(float64(resources), "resources/op")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(runs), "cpu-ns/op")
		})
	}
}
