package scripts

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"tsdb-platform/components/greptimedb"
)

// hostile are values that would run a command or end a string if a script
// pasted them into its text or an SQL statement. Validation refuses them in
// config (tests/greptimedb TestHostileValuesAreRejected); here they reach the
// scripts anyway, through the environment and the user file, and must arrive
// at the stubs as data.
func hostile(dir string) []string {
	pwn := filepath.Join(dir, "pwn")
	return []string{
		"b$(touch " + pwn + ")",
		"x'); DROP DATABASE public; --",
		`q"uote`,
		"a;touch " + pwn,
		"new\nline",
		"`touch " + pwn + "`",
	}
}

// exportEnv is the export's environment aimed at s, with the user file.
func exportEnv(t *testing.T, s *stub, users string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	file := filepath.Join(dir, "passwd")
	require.NoError(t, os.WriteFile(file, []byte(users), 0o600))
	host, port := s.hostPort()
	return map[string]string{
		greptimedb.EnvFrontendHost: host, greptimedb.EnvFrontendPort: port,
		greptimedb.EnvUsersFile: file, greptimedb.EnvTmpDir: t.TempDir(), greptimedb.EnvRequestTimeout: "20",
		greptimedb.EnvBackupBucket: "tsdb", greptimedb.EnvBackupPrefix: "backups", greptimedb.EnvBackupRegion: "eu-west-1",
		greptimedb.EnvBackupDatabases: "public",
	}
}

// TestExportTakesHostileValuesAsData: each value the export puts in its SQL
// reaches the frontend inside a correctly quoted literal or identifier, and a
// hostile password reaches it intact in the Authorization header; nothing runs.
func TestExportTakesHostileValuesAsData(t *testing.T) {
	sh := newShell(t)
	for _, key := range []string{greptimedb.EnvBackupBucket, greptimedb.EnvBackupPrefix, greptimedb.EnvBackupRegion,
		greptimedb.EnvBackupEndpoint, greptimedb.EnvBackupDatabases} {
		dir := t.TempDir()
		for _, v := range hostile(dir) {
			if key == greptimedb.EnvBackupDatabases && strings.ContainsAny(v, " \n") {
				continue // the list is split at white space: such a value is two names
			}
			t.Run(key+"/"+v, func(t *testing.T) {
				sh.reset(t)
				s := newStub(t)
				env := exportEnv(t, s, "admin=pw\n")
				env[key] = v
				out, err := sh.run(t, greptimedb.DatabaseBackupScript, env, 20*time.Second)
				require.NoError(t, err, out)
				got := s.received()
				require.Len(t, got, 1, out)
				form, err := url.ParseQuery(got[0].Body)
				require.NoError(t, err)
				db := strings.TrimSpace(env[greptimedb.EnvBackupDatabases])
				assert.Regexp(t, exportStatement(env, db), form.Get("sql"))
				assert.NoFileExists(t, filepath.Join(dir, "pwn"), "a value ran as a command")
				for _, argv := range sh.argvs(t) {
					assert.NotEqual(t, "touch", argv[0], "a value ran as a command: %q", argv)
				}
			})
		}
	}
	t.Run("password", func(t *testing.T) {
		dir := t.TempDir()
		for _, pw := range hostile(dir) {
			if strings.ContainsAny(pw, "\n") {
				continue // a user file line cannot hold a newline
			}
			sh.reset(t)
			s := newStub(t)
			env := exportEnv(t, s, "# the frontends' users\n  admin = "+pw+"  \n")
			out, err := sh.run(t, greptimedb.DatabaseBackupScript, env, 20*time.Second)
			require.NoError(t, err, out)
			got := s.received()
			require.Len(t, got, 1, out)
			// Upstream trims the line, not its parts: the user is "admin " and
			// the password " <pw>", inner spaces kept.
			want := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin : "+pw))
			assert.Equal(t, want, got[0].Header.Get("Authorization"), pw)
			assert.NoFileExists(t, filepath.Join(dir, "pwn"))
			for _, argv := range sh.argvs(t) {
				for _, a := range argv {
					assert.NotContains(t, a, pw, "the password on the argv of %q", argv[0])
				}
			}
		}
	})
}

// TestExportReadsTheUserFileAsGreptimeDBDoes: GreptimeDB v1.1.4's static user
// provider format (src/auth/src/user_provider.rs): comments and blank lines
// skipped, user:permission=password, plain: stripped, exactly one '=', a later
// line for a user replacing an earlier one. The export signs in as the first
// user that can read with a password it can send.
func TestExportReadsTheUserFileAsGreptimeDBDoes(t *testing.T) {
	sh := newShell(t)
	for name, tc := range map[string]struct{ file, user, password string }{
		"plain line":                 {"admin=secret\n", "admin", "secret"},
		"comment and blank first":    {"# users\n\n   \nadmin=secret\n", "admin", "secret"},
		"permission and plain: form": {"grafana:rw=plain:secret\n", "grafana", "secret"},
		"no final newline":           {"admin=secret", "admin", "secret"},
		"write-only user skipped":    {"writer:wo=w1\nreader:ro=r1\n", "reader", "r1"},
		"hashed password skipped": {"hashed=mysql_native_password:" + strings.Repeat("ab", 20) + "\nadmin=secret\n",
			"admin", "secret"},
		"two '=' is no credential": {"bad=a=b\nadmin=secret\n", "admin", "secret"},
		"a later line replaces":    {"admin=old\nother=x\nadmin=new\n", "admin", "new"},
		"replaced by a write-only": {"admin=old\nother=x\nadmin:wo=new\n", "other", "x"},
		"CRLF line ends":           {"admin=secret\r\n", "admin", "secret"},
	} {
		t.Run(name, func(t *testing.T) {
			sh.reset(t)
			s := newStub(t)
			out, err := sh.run(t, greptimedb.DatabaseBackupScript, exportEnv(t, s, tc.file), 20*time.Second)
			require.NoError(t, err, out)
			got := s.received()
			require.Len(t, got, 1, out)
			assert.Equal(t, "Basic "+base64.StdEncoding.EncodeToString([]byte(tc.user+":"+tc.password)), got[0].Header.Get("Authorization"))
		})
	}
	t.Run("no usable user", func(t *testing.T) {
		s := newStub(t)
		out, err := sh.run(t, greptimedb.DatabaseBackupScript, exportEnv(t, s, "# none\nw:wo=x\n"), 20*time.Second)
		require.Error(t, err)
		assert.Contains(t, out, "no user in")
		assert.Empty(t, s.received())
	})
}

// TestWaitTakesHostileURLsAsData: a URL from the environment reaches wget as
// one argument, whatever it holds.
func TestWaitTakesHostileURLsAsData(t *testing.T) {
	sh := newShell(t)
	dir := t.TempDir()
	s := newStub(t)
	for _, v := range hostile(dir) {
		if strings.ContainsAny(v, " \n") {
			continue // URLs are split at white space, which no URL holds
		}
		sh.reset(t)
		u := s.URL + "/health?x=" + v
		out, err := sh.run(t, greptimedb.WaitScript, map[string]string{greptimedb.EnvWaitURLs: u, greptimedb.EnvWaitFor: "meta"}, 20*time.Second)
		require.NoError(t, err, out)
		var wgets [][]string
		for _, argv := range sh.argvs(t) {
			require.NotEqual(t, "touch", argv[0], "a value ran as a command")
			if argv[0] == "wget" {
				wgets = append(wgets, argv)
			}
		}
		require.NotEmpty(t, wgets)
		assert.Equal(t, u, wgets[0][len(wgets[0])-1], "the URL is one argument")
		assert.Contains(t, wgets[0], "-T", "every wget has a timeout")
		assert.NoFileExists(t, filepath.Join(dir, "pwn"))
	}
}

// TestExportFailsWhenTheFrontendDoes: an error answer or a refused connection
// fails the run (and so the Job), with what the frontend said.
func TestExportFailsWhenTheFrontendDoes(t *testing.T) {
	sh := newShell(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"Database not found: public"}`))
	}))
	defer failing.Close()
	s := &stub{Server: failing}
	out, err := sh.run(t, greptimedb.DatabaseBackupScript, exportEnv(t, s, "admin=pw\n"), 20*time.Second)
	require.Error(t, err)
	assert.Contains(t, out, "Database not found")
	assert.Contains(t, out, "status 400")

	closed := newStub(t)
	env := exportEnv(t, closed, "admin=pw\n")
	closed.Close()
	out, err = sh.run(t, greptimedb.DatabaseBackupScript, env, 20*time.Second)
	require.Error(t, err)
	assert.Contains(t, out, "did not answer 200", out)
}

// TestUsersScriptRefusesUnwritablePasswords: a referenced password that
// GreptimeDB would misread (empty, an '=' that splits the line elsewhere, a
// line break, white space it trims) stops the pod with the user named and the
// password nowhere in the output; a hostile one is written as data.
func TestUsersScriptRefusesUnwritablePasswords(t *testing.T) {
	sh := newShell(t)
	run := func(t *testing.T, pw string) (string, string, error) {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "generated"), []byte("admin=gen\n"), 0o600))
		require.NoError(t, os.Mkdir(filepath.Join(dir, "pw"), 0o700))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "pw", "0"), []byte(pw), 0o600))
		out, err := sh.run(t, greptimedb.UsersScript, map[string]string{
			greptimedb.EnvUsersGenerated: filepath.Join(dir, "generated"), greptimedb.EnvUsersReferenced: "ingest:writeonly",
			greptimedb.EnvPasswordsDir: filepath.Join(dir, "pw"), greptimedb.EnvUsersFile: filepath.Join(dir, "passwd"),
		}, 10*time.Second)
		file, _ := os.ReadFile(filepath.Join(dir, "passwd"))
		return out, string(file), err
	}
	for _, pw := range []string{"", "\n", "a=b-s3cr3t", "two\nlines-s3cr3t", " lead-s3cr3t", "trail-s3cr3t\t"} {
		t.Run(strings.TrimSpace(pw), func(t *testing.T) {
			out, file, err := run(t, pw)
			require.Error(t, err, out)
			assert.Contains(t, out, "user ingest:")
			if len(pw) > 4 {
				assert.NotContains(t, out, strings.TrimSpace(pw))
			}
			assert.Empty(t, file, "no user file is left behind")
		})
	}
	dir := t.TempDir()
	for _, pw := range hostile(dir) {
		if strings.Contains(pw, "\n") {
			continue
		}
		out, file, err := run(t, pw+"\n")
		require.NoError(t, err, out)
		assert.Equal(t, "admin=gen\ningest:writeonly="+pw+"\n", file)
		assert.NoFileExists(t, filepath.Join(dir, "pwn"))
	}
}
