// Package scripts runs every shell script the program writes under busybox, the
// shell of the wait image, against stub HTTP servers on loopback. Each exec'd
// command goes through a PATH of shims that record its argv, so the tests see
// what a process list (/proc/<pid>/cmdline) would show.
package scripts

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// busybox returns the path of Debian's busybox. Without it the tests skip,
// except in CI (CI=true), where .ci/run installs it and its absence is a failure.
func busybox(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("busybox")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("busybox is not installed; .ci/run installs it (apt-get install -y busybox)")
		}
		t.Skip("busybox is not installed: the scripts are not run (apt-get install -y busybox to run them)")
	}
	return path
}

// recordSep and argSep separate the shims' records and the words of one argv.
const (
	recordSep = "\x1e"
	argSep    = "\x1f"
)

// Commands that are not busybox applets: the shims record them and succeed.
var stubCommands = []string{"greptime", "etcdctl"}

// Applets that only record: the scripts wait with sleep, which needs no real time here.
var recordOnly = []string{"sleep"}

// shell is a PATH of shims around busybox, and the log they write.
type shell struct {
	busybox string
	bin     string
	log     string
}

// newShell makes a shim for every applet busybox has (Debian's ash runs no
// applet in-process: it resolves each through PATH, so every exec'd command
// passes through a shim; builtins such as printf, echo, read and test are
// never exec'd, so they have no argv to record).
func newShell(t *testing.T) *shell {
	t.Helper()
	bb := busybox(t)
	dir := t.TempDir()
	s := &shell{busybox: bb, bin: filepath.Join(dir, "bin"), log: filepath.Join(dir, "argv")}
	require.NoError(t, os.MkdirAll(s.bin, 0o755))
	require.NoError(t, os.MkdirAll(s.log, 0o755))
	out, err := exec.Command(bb, "--list").Output()
	require.NoError(t, err, "busybox --list")
	// Each process appends its argv to a file named after its pid, in one write.
	record := `printf '%s` + `\037' "${0##*/}" "$@" "$(printf '\036')" >> "` + s.log + `/$$"`
	shim := "#!" + bb + " sh\n" + record + "\nexec " + bb + ` "${0##*/}" "$@"` + "\n"
	stub := "#!" + bb + " sh\n" + record + "\nexit 0\n"
	write := func(name, text string) {
		require.NoError(t, os.WriteFile(filepath.Join(s.bin, name), []byte(text), 0o755))
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "sh" || applet == "ash" {
			continue
		}
		write(applet, shim)
	}
	for _, name := range append(stubCommands, recordOnly...) {
		write(name, stub)
	}
	// Debian's busybox is built without FEATURE_WGET_TIMEOUT (its wget usage
	// lists no -T, and `wget -T 2` crashes it), while the wait image's busybox
	// 1.37 has it. The wget shim records -T like every argument, then drops it.
	write("wget", "#!"+bb+" sh\n"+record+`
first=1 skip=
for a do
  if [ -n "$first" ]; then set --; first=; fi
  if [ -n "$skip" ]; then skip=; continue; fi
  if [ "$a" = -T ]; then skip=1; continue; fi
  set -- "$@" "$a"
done
exec `+bb+` wget "$@"
`)
	return s
}

// run runs script with env (and the shims' PATH) under busybox sh, within timeout.
func (s *shell) run(t *testing.T, script string, env map[string]string, timeout time.Duration) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.busybox, "sh", "-c", script)
	cmd.Env = []string{"PATH=" + s.bin}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctx.Err() != nil {
		tail := out.String()
		if len(tail) > 2000 {
			tail = "..." + tail[len(tail)-2000:]
		}
		t.Fatalf("the script did not finish within %s; output:\n%s", timeout, tail)
	}
	return out.String(), err
}

// argvs are the argv of every command exec'd through the shims so far.
func (s *shell) argvs(t *testing.T) [][]string {
	t.Helper()
	files, err := os.ReadDir(s.log)
	require.NoError(t, err)
	var out [][]string
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(s.log, f.Name()))
		require.NoError(t, err)
		for _, rec := range strings.Split(string(raw), recordSep+argSep) {
			if rec = strings.TrimSuffix(rec, argSep); rec != "" {
				out = append(out, strings.Split(rec, argSep))
			}
		}
	}
	return out
}

// reset forgets the recorded argv.
func (s *shell) reset(t *testing.T) {
	t.Helper()
	require.NoError(t, os.RemoveAll(s.log))
	require.NoError(t, os.MkdirAll(s.log, 0o755))
}

// request is what a stub received.
type request struct {
	Method, Path string
	Header       http.Header
	Body         string
}

// stub is an HTTP server on 127.0.0.1 that records requests and answers 200.
type stub struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func newStub(t *testing.T) *stub {
	t.Helper()
	s := &stub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := new(bytes.Buffer)
		_, _ = body.ReadFrom(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body.String()})
		s.mu.Unlock()
		_, _ = w.Write([]byte(`{"output":[{"affectedrows":0}],"execution_time_ms":1}`))
	}))
	t.Cleanup(s.Close)
	return s
}

// received are the requests so far.
func (s *stub) received() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

// host and port of the stub.
func (s *stub) hostPort() (string, string) {
	hp := strings.TrimPrefix(s.URL, "http://")
	i := strings.LastIndex(hp, ":")
	return hp[:i], hp[i+1:]
}
