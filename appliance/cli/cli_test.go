package cli

import (
	"bytes"
	"context"
	"io"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/privacy/auditlog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), Env{Stdout: &out, Stderr: &errb, Getenv: func(k string) string { return env[k] }}, args)
	return code, out.String(), errb.String()
}

func TestBadFlagsExit2(t *testing.T) {
	cases := []struct {
		args []string
		msg  string
	}{
		{[]string{"serve", "--https-addr", "bogus"}, "--https-addr"},
		{[]string{"serve", "--no-such-flag"}, "--no-such-flag"},
		{[]string{"serve", "--tls-mode", "x"}, "--tls-mode"},
		{[]string{"nonsense"}, "unknown command"},
		{[]string{}, "Usage"},
		{[]string{"db"}, "Usage"},
		{[]string{"db", "fix"}, "unknown command"},
		{[]string{"db", "check", "--bogus"}, "bogus"},
		{[]string{"version", "extra"}, "unexpected argument"},
	}
	for _, c := range cases {
		code, _, stderr := run(t, nil, c.args...)
		if code != ExitUsage {
			t.Errorf("%v: exit %d, want 2", c.args, code)
		}
		if !strings.Contains(stderr, c.msg) {
			t.Errorf("%v: stderr %q lacks %q", c.args, stderr, c.msg)
		}
	}
}

func TestBadEnvExit2(t *testing.T) {
	code, _, stderr := run(t, map[string]string{"CLINICBOX_HTTP_ADDR": "nowhere"}, "serve")
	if code != ExitUsage || !strings.Contains(stderr, "CLINICBOX_HTTP_ADDR") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"help"}, {"serve", "--help"}, {"db", "--help"}, {"db", "check", "--help"}, {"version", "--help"}} {
		code, stdout, stderr := run(t, nil, args...)
		if code != ExitOK {
			t.Errorf("%v: exit %d", args, code)
		}
		if !strings.Contains(stdout+stderr, "Usage") {
			t.Errorf("%v: no usage printed", args)
		}
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(stdout, "clinicbox ") {
		t.Fatalf("%d %q", code, stdout)
	}
}

func TestDBCheck(t *testing.T) {
	dir := t.TempDir()
	// A missing database is an error naming the path, not a new file.
	code, _, stderr := run(t, nil, "db", "check", "--data-dir", dir)
	if code == 0 || !strings.Contains(stderr, dir) {
		t.Fatalf("missing db: %d %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "clinicbox.db")); err == nil {
		t.Fatal("db check created a database")
	}

	corrupt := t.TempDir()
	os.WriteFile(filepath.Join(corrupt, "clinicbox.db"), bytes.Repeat([]byte{0xAB}, 64<<10), 0o600)
	code, stdout, stderr := run(t, map[string]string{"CLINICBOX_DATA_DIR": corrupt}, "db", "check")
	if code != ExitNeedsAdmin {
		t.Fatalf("corrupt db: exit %d: %s %s", code, stdout, stderr)
	}
}

func TestUserAddAndAuditVerify(t *testing.T) {
	dir := t.TempDir()
	code, stdout, stderr := run(t, nil, "user", "add", "--data-dir", dir, "--role", "admin", "--email", "anna@example.se",
		"--name", "Anna Andersson", "--base-url", "https://box.test")
	if code != 0 || !strings.Contains(stdout, "https://box.test/setup/") {
		t.Fatalf("user add: %d %q %q", code, stdout, stderr)
	}
	for _, c := range []struct {
		args []string
		flag string
	}{
		{[]string{"--role", "client", "--email", "b@example.se", "--name", "B"}, "--role"},
		{[]string{"--role", "staff", "--email", "not-an-address", "--name", "B"}, "--email"},
		{[]string{"--role", "staff", "--email", "b@example.se"}, "--name"},
		{[]string{"--role", "staff", "--email", "ANNA@example.se", "--name", "Anna"}, "--email"},
	} {
		code, _, stderr := run(t, nil, append([]string{"user", "add", "--data-dir", dir}, c.args...)...)
		if code != ExitUsage || !strings.Contains(stderr, c.flag) {
			t.Errorf("%v: exit %d, %q", c.args, code, stderr)
		}
	}
	code, stdout, _ = run(t, nil, "audit", "verify", "--data-dir", dir)
	if code != 0 || !strings.Contains(stdout, "chain intact") {
		t.Fatalf("audit verify: %d %q", code, stdout)
	}
}

// TestAuditVerifyCatchesAnEditedEntry edits one stored access-log entry in
// the database file and expects `clinicbox audit verify` to report it.
func TestAuditVerifyCatchesAnEditedEntry(t *testing.T) {
	dir := t.TempDir()
	db, d, code := openForAdmin(Env{Stderr: io.Discard}, dir, "test")
	if db == nil {
		t.Fatalf("open: %d", code)
	}
	for i := 1; i <= 3; i++ {
		if _, err := d.Audit.Append(auditlog.Entry{ActorID: 7, ActorRole: auditlog.RoleStaff, SubjectID: uint64(40 + i), UnitID: 1, Action: "room.read"}); err != nil {
			t.Fatal(err)
		}
	}
	d.Keys.Close()
	db.Close()
	if code, out, _ := run(t, nil, "audit", "verify", "--data-dir", dir); code != 0 || !strings.Contains(out, "3 entries") {
		t.Fatalf("before: %d %q", code, out)
	}

	raw, err := bbolt.Open(filepath.Join(dir, "clinicbox.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = raw.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		key := []byte{0, 0, 0, 0, 0, 0, 0, 2}
		v := bytes.Clone(b.Get(key))
		i := bytes.Index(v, []byte("room.read"))
		if i < 0 {
			t.Fatal("entry 2 has no action text")
		}
		copy(v[i:], "room.edit")
		return b.Put(key, v)
	})
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := run(t, nil, "audit", "verify", "--data-dir", dir)
	if code != ExitNeedsAdmin || !strings.Contains(out, "2") {
		t.Fatalf("after an edit: exit %d %q", code, out)
	}
	t.Logf("verify says: %s", out)
}
