package cli

import (
	"bytes"
	"context"
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
