package scripts

import (
	"encoding/base64"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"tsdb-platform/components/etcd"
	"tsdb-platform/components/greptimedb"
	"tsdb-platform/internal/mockrun"
	"tsdb-platform/tests/manifests"
)

// podIP is the fake pod IP of every container run.
const podIP = "10.0.0.7"

// workload is one pod template of a rendered stack.
type workload struct {
	kind, name, namespace string
	pod                   corev1.PodSpec
}

// rendered is a stack's workloads and Secrets.
type rendered struct {
	workloads []workload
	secrets   map[string]map[string]string // Secret name -> key -> value
	configs   map[string]map[string]string // ConfigMap name -> key -> value
}

func render(t *testing.T, ref mockrun.StackRef) rendered {
	t.Helper()
	res, _, err := mockrun.RunStackFile(ref.Path, ref.Name, false)
	require.NoError(t, err, "stack %s", ref.Name)
	objs, err := manifests.Objects(res)
	require.NoError(t, err)
	r := rendered{secrets: map[string]map[string]string{}, configs: map[string]map[string]string{}}
	for _, o := range objs {
		kind, name, ns := o.Body.GetKind(), o.Body.GetName(), o.Body.GetNamespace()
		var pod *corev1.PodSpec
		switch kind {
		case "StatefulSet":
			pod = &decode[appsv1.StatefulSet](t, o.Body.Object).Spec.Template.Spec
		case "Deployment":
			pod = &decode[appsv1.Deployment](t, o.Body.Object).Spec.Template.Spec
		case "Job":
			pod = &decode[batchv1.Job](t, o.Body.Object).Spec.Template.Spec
		case "CronJob":
			pod = &decode[batchv1.CronJob](t, o.Body.Object).Spec.JobTemplate.Spec.Template.Spec
		case "Secret":
			s := decode[corev1.Secret](t, o.Body.Object)
			data := map[string]string{}
			for k, v := range s.StringData {
				data[k] = v
			}
			for k, v := range s.Data {
				data[k] = string(v)
			}
			r.secrets[name] = data
		case "ConfigMap":
			r.configs[name] = decode[corev1.ConfigMap](t, o.Body.Object).Data
		}
		if pod != nil {
			r.workloads = append(r.workloads, workload{kind: kind, name: name, namespace: ns, pod: *pod})
		}
	}
	return r
}

func decode[T any](t *testing.T, obj map[string]any) *T {
	t.Helper()
	var out T
	require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &out))
	return &out
}

// secretValue is a Secret key's value: the rendered one, or a fake one for a
// Secret the stack only references. Every value handed out is a secret the
// scripts must keep off every argv.
func (r rendered) secretValue(name, key string, secrets *[]string) string {
	v, ok := r.secrets[name][key]
	if !ok {
		v = fmt.Sprintf("fake-%s-%s-s3cr3t", name, key)
	}
	*secrets = append(*secrets, v)
	return v
}

// run is one container's script, ready to run.
type run struct {
	w       workload
	c       corev1.Container
	env     map[string]string
	mounts  map[string]string // mountPath -> directory
	secrets []string
}

// prepare resolves a container's environment and volumes: fieldRefs to fake pod
// values, secretKeyRefs to the rendered (or fake) Secrets, plain values as they
// are; volumes become directories holding their Secret or ConfigMap files, and
// environment values under a mount path point into them.
func (r rendered) prepare(t *testing.T, w workload, c corev1.Container) *run {
	t.Helper()
	x := &run{w: w, c: c, env: map[string]string{}, mounts: map[string]string{}}
	volumes := map[string]corev1.Volume{}
	for _, v := range w.pod.Volumes {
		volumes[v.Name] = v
	}
	for _, m := range c.VolumeMounts {
		dir := t.TempDir()
		x.mounts[m.MountPath] = dir
		v := volumes[m.Name]
		switch {
		case v.Secret != nil:
			if _, ok := r.secrets[v.Secret.SecretName]; !ok {
				r.secrets[v.Secret.SecretName] = map[string]string{}
			}
			keys := r.secrets[v.Secret.SecretName]
			if len(keys) == 0 {
				keys = map[string]string{greptimedb.AuthKey: ""}
			}
			for k := range keys {
				value := r.secretValue(v.Secret.SecretName, k, &x.secrets)
				if k == greptimedb.AuthKey && !strings.Contains(value, "=") {
					value = "backup=" + value
				}
				x.secrets = append(x.secrets, userFileSecrets(value)...)
				require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(value), 0o600))
			}
		case v.Projected != nil:
			for _, src := range v.Projected.Sources {
				require.NotNil(t, src.Secret, "%s: a projected source the test does not know", v.Name)
				for _, item := range src.Secret.Items {
					value := r.secretValue(src.Secret.Name, item.Key, &x.secrets)
					require.NoError(t, os.WriteFile(filepath.Join(dir, item.Path), []byte(value+"\n"), 0o600))
				}
			}
		case v.ConfigMap != nil:
			for k, value := range r.configs[v.ConfigMap.Name] {
				require.NoError(t, os.WriteFile(filepath.Join(dir, k), []byte(value), 0o600))
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			x.env[e.Name] = x.underMounts(e.Value)
		case e.ValueFrom.FieldRef != nil:
			x.env[e.Name] = map[string]string{
				"status.podIP": podIP, "metadata.name": w.name + "-0", "metadata.namespace": w.namespace,
			}[e.ValueFrom.FieldRef.FieldPath]
		case e.ValueFrom.SecretKeyRef != nil:
			x.env[e.Name] = r.secretValue(e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key, &x.secrets)
		default:
			t.Fatalf("%s %s container %s: env %s has a source the test does not know", w.kind, w.name, c.Name, e.Name)
		}
	}
	return x
}

// underMounts rewrites a path under one of the container's mounts to the
// directory standing in for it.
func (x *run) underMounts(v string) string {
	for path, dir := range x.mounts {
		if v == path || strings.HasPrefix(v, path+"/") {
			return dir + strings.TrimPrefix(v, path)
		}
	}
	return v
}

// userFileSecrets are what of a user file is secret: each password, and the
// Basic credentials made of it.
func userFileSecrets(file string) []string {
	var out []string
	for _, line := range strings.Split(file, "\n") {
		user, pw, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(user, "#") {
			continue
		}
		user, _, _ = strings.Cut(user, ":")
		pw = strings.TrimPrefix(pw, "plain:")
		out = append(out, pw, base64.StdEncoding.EncodeToString([]byte(user+":"+pw)))
	}
	return out
}

// isScript reports whether the container runs a shell script, and returns it.
func isScript(c corev1.Container) (string, bool) {
	if len(c.Command) == 3 && c.Command[0] == "/bin/sh" && c.Command[1] == "-c" {
		return c.Command[2], true
	}
	return "", false
}

// pointAt rewrites an http URL's host and port to the stub's.
func pointAt(t *testing.T, raw string, s *stub) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err, raw)
	host, port := s.hostPort()
	u.Host = host + ":" + port
	return u.String()
}

// TestScriptsRun runs every shell script of every stack (the committed ones and
// the full test stack) under busybox against loopback stubs, and checks what
// each one sends, what it execs, and that no secret is on any argv.
func TestScriptsRun(t *testing.T) {
	sh := newShell(t)
	stacks, err := mockrun.AllStacks()
	require.NoError(t, err)
	seen := map[string]int{}
	for _, ref := range stacks {
		r := render(t, ref)
		for _, w := range r.workloads {
			for _, c := range append(append([]corev1.Container{}, w.pod.InitContainers...), w.pod.Containers...) {
				name := ref.Name + "/" + w.kind + "/" + w.name + "/" + c.Name
				if c.Name == "snapshot" && len(c.Command) > 0 && strings.HasSuffix(c.Command[0], "etcdctl") {
					t.Run(name, func(t *testing.T) { checkSnapshotCommand(t, w, c) })
					continue
				}
				script, ok := isScript(c)
				if !ok {
					continue
				}
				t.Run(name, func(t *testing.T) {
					sh.reset(t)
					x := r.prepare(t, w, c)
					kind := check(t, sh, x, script)
					seen[kind]++
					for _, argv := range sh.argvs(t) {
						for _, secret := range x.secrets {
							if len(secret) < 4 {
								continue
							}
							for _, arg := range argv {
								assert.NotContains(t, arg, secret, "a secret on the argv of %q", argv[0])
							}
						}
					}
				})
			}
		}
	}
	for _, kind := range []string{"wait", "datanode", "flownode", "maintenance-on", "maintenance-off", "export", "rotate", "users"} {
		assert.NotZero(t, seen[kind], "no stack has a %s script: the test ran none", kind)
	}
}

// check runs one script and checks it by what it is; it returns the kind.
func check(t *testing.T, sh *shell, x *run, script string) string {
	t.Helper()
	switch {
	case script == greptimedb.WaitScript:
		checkWait(t, sh, x, script)
		return "wait"
	case script == greptimedb.DatanodeScript:
		checkOrdinalNode(t, sh, x, script, "datanode")
		return "datanode"
	case script == greptimedb.FlownodeScript:
		checkOrdinalNode(t, sh, x, script, "flownode")
		return "flownode"
	case script == greptimedb.MaintenanceScript:
		return checkMaintenance(t, sh, x, script)
	case script == greptimedb.DatabaseBackupScript:
		checkExport(t, sh, x, script)
		return "export"
	case script == greptimedb.UsersScript:
		checkUsers(t, sh, x, script)
		return "users"
	case script == etcd.RotateScript:
		checkRotate(t, sh, x, script)
		return "rotate"
	}
	t.Fatalf("a script the test does not know; add its checks:\n%s", script)
	return ""
}

// checkWait: the wait GETs each URL's path on its host until one answers.
func checkWait(t *testing.T, sh *shell, x *run, script string) {
	s := newStub(t)
	urls := strings.Fields(x.env[greptimedb.EnvWaitURLs])
	require.NotEmpty(t, urls)
	var pointed []string
	for _, u := range urls {
		pointed = append(pointed, pointAt(t, u, s))
	}
	x.env[greptimedb.EnvWaitURLs] = strings.Join(pointed, " ")
	out, err := sh.run(t, script, x.env, 20*time.Second)
	require.NoError(t, err, out)
	got := s.received()
	require.NotEmpty(t, got, "the wait reached no stub")
	first, err := url.Parse(urls[0])
	require.NoError(t, err)
	assert.Equal(t, request{Method: "GET", Path: first.Path}, request{Method: got[0].Method, Path: got[0].Path})
}

// checkOrdinalNode: a datanode or flownode starts greptime with its ordinal as
// node id and meta's address from the environment, each as one word.
func checkOrdinalNode(t *testing.T, sh *shell, x *run, script, kind string) {
	out, err := sh.run(t, script, x.env, 10*time.Second)
	require.NoError(t, err, out)
	argvs := sh.argvs(t)
	require.Len(t, argvs, 1, "exec greptime")
	assert.Equal(t, []string{"greptime", kind, "start", "--node-id", "0",
		"--metasrv-addrs", x.env[greptimedb.EnvMetasrvAddrs],
		"--rpc-bind-addr", "0.0.0.0:4001", "--rpc-server-addr", podIP + ":4001",
		"--http-addr", "0.0.0.0:4000", "--config-file", greptimedb.ConfigFile}, argvs[0])
}

// checkMaintenance: the Job POSTs an empty body to metasrv's enable or disable
// path; "on" then waits out the leader's 10 s cache.
func checkMaintenance(t *testing.T, sh *shell, x *run, script string) string {
	s := newStub(t)
	u, err := url.Parse(x.env[greptimedb.EnvMaintenanceURL])
	require.NoError(t, err)
	x.env[greptimedb.EnvMaintenanceURL] = pointAt(t, u.String(), s)
	out, err := sh.run(t, script, x.env, 20*time.Second)
	require.NoError(t, err, out)
	got := s.received()
	require.Len(t, got, 1, out)
	assert.Equal(t, "POST", got[0].Method)
	assert.Empty(t, got[0].Body)
	var slept [][]string
	for _, argv := range sh.argvs(t) {
		if argv[0] == "sleep" {
			slept = append(slept, argv)
		}
	}
	switch u.Path {
	case greptimedb.MaintenancePath + "/enable":
		assert.Equal(t, greptimedb.MaintenancePath+"/enable", got[0].Path)
		assert.Equal(t, [][]string{{"sleep", "11"}}, slept, "maintenance on waits out metasrv's 10 s cache")
		return "maintenance-on"
	case greptimedb.MaintenancePath + "/disable":
		assert.Equal(t, greptimedb.MaintenancePath+"/disable", got[0].Path)
		assert.Empty(t, slept, "maintenance off has nothing to wait for")
		return "maintenance-off"
	}
	t.Fatalf("maintenance URL %s is neither enable nor disable", u)
	return ""
}

// exportStatement is the COPY DATABASE statement the export sends for db, with
// its time stamp as a pattern.
func exportStatement(env map[string]string, db string) *regexp.Regexp {
	lit := func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }
	var conn []string
	if r := env[greptimedb.EnvBackupRegion]; r != "" {
		conn = append(conn, "REGION="+lit(r))
	}
	if e := env[greptimedb.EnvBackupEndpoint]; e != "" {
		conn = append(conn, "ENDPOINT="+lit(e))
	}
	to := lit("s3://"+env[greptimedb.EnvBackupBucket]+"/"+env[greptimedb.EnvBackupPrefix]+"/TIMESTAMP/"+db+"/") + " WITH (FORMAT='parquet')"
	if len(conn) > 0 {
		to += " CONNECTION (" + strings.Join(conn, ", ") + ")"
	}
	stmt := "COPY DATABASE " + `"` + strings.ReplaceAll(db, `"`, `""`) + `"` + " TO " + to
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(stmt), "TIMESTAMP", `\d{8}T\d{6}Z`) + "$")
}

// checkExport: for each database the export POSTs /v1/sql with the COPY
// statement as a form and the first usable user's Basic credentials; the
// object store's keys are nowhere in it.
func checkExport(t *testing.T, sh *shell, x *run, script string) {
	s := newStub(t)
	x.env[greptimedb.EnvFrontendHost], x.env[greptimedb.EnvFrontendPort] = s.hostPort()
	out, err := sh.run(t, script, x.env, 20*time.Second)
	require.NoError(t, err, out)
	dbs := strings.Fields(x.env[greptimedb.EnvBackupDatabases])
	got := s.received()
	require.Len(t, got, len(dbs), out)
	wantAuth := ""
	if f := x.env[greptimedb.EnvUsersFile]; f != "" {
		raw, err := os.ReadFile(f)
		require.NoError(t, err)
		user, pw := firstUser(t, string(raw))
		wantAuth = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	for i, db := range dbs {
		assert.Equal(t, "POST", got[i].Method)
		assert.Equal(t, "/v1/sql", got[i].Path)
		assert.Equal(t, wantAuth, got[i].Header.Get("Authorization"))
		assert.Equal(t, "application/x-www-form-urlencoded", got[i].Header.Get("Content-Type"))
		form, err := url.ParseQuery(got[i].Body)
		require.NoError(t, err)
		assert.Regexp(t, exportStatement(x.env, db), form.Get("sql"))
		for _, secret := range x.secrets {
			if len(secret) >= 4 {
				assert.NotContains(t, form.Get("sql"), secret, "no secret in the SQL text")
			}
		}
	}
}

// firstUser is the first user of a user file, plain: a test double of the rule
// in DatabaseBackupScript for the files the stacks render (one plain user).
func firstUser(t *testing.T, file string) (string, string) {
	t.Helper()
	for _, line := range strings.Split(file, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") || strings.Count(line, "=") != 1 {
			continue
		}
		user, pw, _ := strings.Cut(line, "=")
		user, _, _ = strings.Cut(user, ":")
		return user, strings.TrimPrefix(pw, "plain:")
	}
	t.Fatal("no user in the user file")
	return "", ""
}

// checkUsers: the user file is the generated lines, then one
// `user:permission=password` line per referenced user, with the password from
// its file (without the trailing newline a Secret's value often has).
func checkUsers(t *testing.T, sh *shell, x *run, script string) {
	out, err := sh.run(t, script, x.env, 10*time.Second)
	require.NoError(t, err, out)
	generated, err := os.ReadFile(x.env[greptimedb.EnvUsersGenerated])
	require.NoError(t, err)
	want := string(generated)
	for i, entry := range strings.Fields(x.env[greptimedb.EnvUsersReferenced]) {
		pw, err := os.ReadFile(filepath.Join(x.env[greptimedb.EnvPasswordsDir], strconv.Itoa(i)))
		require.NoError(t, err)
		want += entry + "=" + strings.TrimSuffix(string(pw), "\n") + "\n"
	}
	got, err := os.ReadFile(x.env[greptimedb.EnvUsersFile])
	require.NoError(t, err)
	assert.Equal(t, want, string(got))
	info, err := os.Stat(x.env[greptimedb.EnvUsersFile])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the user file is the pod user's only")
}

// checkRotate: the incoming snapshot gets a dated name and only the newest
// $KEEP snapshots stay.
func checkRotate(t *testing.T, sh *shell, x *run, script string) {
	dir := x.env[etcd.EnvSnapshotDir]
	require.DirExists(t, dir)
	keep, err := strconv.Atoi(x.env[etcd.EnvKeep])
	require.NoError(t, err)
	old := time.Now().Add(-time.Duration(keep+5) * time.Hour)
	for i := range keep + 3 {
		p := filepath.Join(dir, fmt.Sprintf("snapshot-2020010%dT%02d0000Z.db", 1+i/24, i%24))
		require.NoError(t, os.WriteFile(p, nil, 0o600))
		ts := old.Add(time.Duration(i) * time.Hour)
		require.NoError(t, os.Chtimes(p, ts, ts))
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, etcd.IncomingSnapshot), []byte("snap"), 0o600))
	out, err := sh.run(t, script, x.env, 10*time.Second)
	require.NoError(t, err, out)
	left, err := filepath.Glob(filepath.Join(dir, "snapshot-*.db"))
	require.NoError(t, err)
	assert.Len(t, left, keep)
	assert.NoFileExists(t, filepath.Join(dir, etcd.IncomingSnapshot))
	sort.Strings(left)
	newest, err := os.ReadFile(left[len(left)-1])
	require.NoError(t, err)
	assert.Equal(t, "snap", string(newest), "the new snapshot is kept")
}

// checkSnapshotCommand: etcdctl runs in the etcd image, which has no shell: its
// argv is the command. It dials the client Service's full name (the name the
// server certificate carries), with the client certificate under TLS.
func checkSnapshotCommand(t *testing.T, w workload, c corev1.Container) {
	var endpoint string
	flags := map[string]bool{}
	for _, a := range c.Command[1:] {
		if v, ok := strings.CutPrefix(a, "--endpoints="); ok {
			endpoint = v
		}
		flags[strings.SplitN(a, "=", 2)[0]] = true
	}
	u, err := url.Parse(endpoint)
	require.NoError(t, err)
	cluster := strings.TrimSuffix(w.name, "-etcd-backup")
	assert.True(t, strings.HasPrefix(u.Hostname(), cluster+"-etcd-client."+w.namespace+".svc."), "dials %s", u.Hostname())
	assert.Equal(t, "2379", u.Port())
	if u.Scheme == "https" {
		for _, f := range []string{"--cacert", "--cert", "--key"} {
			assert.True(t, flags[f], "TLS needs %s", f)
		}
	}
	assert.Equal(t, []string{"snapshot", "save", etcd.SnapshotDir + "/" + etcd.IncomingSnapshot}, c.Command[len(c.Command)-3:])
}
