package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// passphrase encrypts the benchmark's throwaway stacks' secrets.
const passphrase = "tsdb-platform-bench-peer"

// engine runs `make sim-up` from a clone of the repository's HEAD, as a user
// would, with a local state backend inside the clone; make also writes the sim
// stack's file there, never into the working tree.
type engine struct {
	clone      string
	kubeconfig string
	env        []string
	logs       string
	n          int
}

func newEngine(ctx context.Context, root, dir, kubeconfig string) (*engine, error) {
	e := &engine{clone: filepath.Join(dir, "tsdb-platform"), kubeconfig: kubeconfig, logs: filepath.Join(dir, "make-logs")}
	if out, err := exec.CommandContext(ctx, "git", "clone", "-q", root, e.clone).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("git clone: %w: %s", err, out)
	}
	if err := os.Mkdir(e.logs, 0o755); err != nil {
		return nil, err
	}
	// Not the variables of the make that runs this (`make bench-peer ARGS=...`
	// exports ARGS, which sim-up would hand to pulumi up).
	e.env = append(withoutEnv(os.Environ(), "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE",
		"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "ARGS", "STACK", "STATE_DIR", "SIM_DIR", "SIM_KUBECONFIG"),
		"PULUMI_CONFIG_PASSPHRASE="+passphrase,
		// The clone's own state, as its Makefile uses, for the pulumi commands
		// this runs itself.
		"PULUMI_BACKEND_URL=file://"+filepath.Join(e.clone, ".pulumi-state"),
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
	)
	return e, nil
}

var (
	durationLine = regexp.MustCompile(`(?m)^Duration: (\S+)`)
	logName      = regexp.MustCompile(`[^a-zA-Z0-9.]+`)
)

// run runs name args in the clone and returns its wall time and output, which
// also goes to a numbered log file named after what.
func (e *engine) run(ctx context.Context, what, name string, args ...string) (time.Duration, string, error) {
	e.n++
	ctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = e.clone
	cmd.Env = e.env
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	logPath := filepath.Join(e.logs, fmt.Sprintf("%02d-%s.log", e.n, logName.ReplaceAllString(what, "-")))
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return d, string(out), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, tail(string(out), 40))
	}
	return d, string(out), nil
}

// make runs `make target STACK=dev` against the simulated cluster and logs its
// wall time and pulumi's own Duration line.
func (e *engine) make(ctx context.Context, label, target string) (time.Duration, string, error) {
	d, out, err := e.run(ctx, label+" "+target, "make", "--no-print-directory", target, "STACK=dev", "SIM_KUBECONFIG="+e.kubeconfig)
	if err != nil {
		return d, out, err
	}
	pulumiSays := ""
	if m := durationLine.FindStringSubmatch(out); m != nil {
		pulumiSays = fmt.Sprintf(" (pulumi's Duration: %s)", m[1])
	}
	logf("%s: make %s in %.2f s%s", label, target, d.Seconds(), pulumiSays)
	return d, out, nil
}

// bench measures, runs times: `make sim-up` of a new stack, the same with no
// change, and a log-level change that rolls every GreptimeDB pod; each run
// ends with `make sim-destroy`, so the next first deploy starts from nothing.
// An untimed deploy and destroy first builds the program and warms the caches.
func (e *engine) bench(ctx context.Context, runs int) ([]row, error) {
	if _, _, err := e.make(ctx, "warm-up (untimed)", "sim-up"); err != nil {
		return nil, err
	}
	if _, _, err := e.make(ctx, "warm-up (untimed)", "sim-destroy"); err != nil {
		return nil, err
	}
	first := row{what: "`make sim-up STACK=dev`, first deploy (dev stack: GreptimeDB + etcd + QuasarDB, caches warm)"}
	same := row{what: "`make sim-up STACK=dev` again, no change"}
	rollout := row{what: "`make sim-up STACK=dev` after `greptimedb[0].logging.level` changes (rolls meta, datanode, frontend; maintenance Jobs around the datanode)"}
	level := "info"
	for i := 1; i <= runs; i++ {
		label := fmt.Sprintf("engine run %d", i)
		d, _, err := e.make(ctx, label+", first deploy", "sim-up")
		if err != nil {
			return nil, err
		}
		first.times = append(first.times, d)

		d, out, err := e.make(ctx, label+", no change", "sim-up")
		if err != nil {
			return nil, err
		}
		if strings.Contains(out, " created") || strings.Contains(out, " updated") {
			return nil, fmt.Errorf("%s: the no-change `make sim-up` changed something:\n%s", label, tail(out, 30))
		}
		same.times = append(same.times, d)

		level = map[string]string{"info": "debug", "debug": "info"}[level]
		if _, _, err := e.run(ctx, label+" config set", "pulumi", "config", "set", "--stack", "dev", "--path", "greptimedb[0].logging.level", level); err != nil {
			return nil, err
		}
		d, out, err = e.make(ctx, label+", logging.level → "+level, "sim-up")
		if err != nil {
			return nil, err
		}
		if !strings.Contains(out, " updated") {
			return nil, fmt.Errorf("%s: the log-level change updated nothing:\n%s", label, tail(out, 30))
		}
		rollout.times = append(rollout.times, d)

		if _, _, err := e.make(ctx, label+" (untimed)", "sim-destroy"); err != nil {
			return nil, err
		}
	}
	return []row{first, same, rollout}, nil
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
