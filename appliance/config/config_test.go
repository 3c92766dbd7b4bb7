package config

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	cfg, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{DataDir: "clinicbox-data", HTTPSAddr: ":8443", HTTPAddr: ":8080", MetricsAddr: "127.0.0.1:9464", TURNAddr: ":3478", TLSMode: "internal"}
	if cfg.DataDir != want.DataDir || cfg.HTTPSAddr != want.HTTPSAddr || cfg.HTTPAddr != want.HTTPAddr ||
		cfg.MetricsAddr != want.MetricsAddr || cfg.TURNAddr != want.TURNAddr || cfg.TLSMode != want.TLSMode {
		t.Fatalf("defaults = %+v", cfg)
	}
	if cfg.ShutdownTimeout != 10*time.Second {
		t.Fatalf("shutdown timeout %v", cfg.ShutdownTimeout)
	}
}

func TestStateDirectory(t *testing.T) {
	cfg, err := Load(nil, env(map[string]string{"STATE_DIRECTORY": "/var/lib/clinicbox:/var/lib/other"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/clinicbox" {
		t.Fatalf("data dir %q", cfg.DataDir)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "clinicbox.conf")
	os.WriteFile(file, []byte(`# test config
data-dir = /from/file
https-addr = :1443
http-addr = :1080   # trailing comment
hostname = a.example
hostname = 10.0.0.1
log-level = "debug"
`), 0o600)
	cfg, err := Load([]string{"--config", file, "--https-addr", ":3443"},
		env(map[string]string{"CLINICBOX_HTTPS_ADDR": ":2443", "CLINICBOX_HTTP_ADDR": ":2080"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/from/file" {
		t.Errorf("data-dir from file: %q", cfg.DataDir)
	}
	if cfg.HTTPSAddr != ":3443" {
		t.Errorf("flag must win over env and file: %q", cfg.HTTPSAddr)
	}
	if cfg.HTTPAddr != ":2080" {
		t.Errorf("env must win over file: %q", cfg.HTTPAddr)
	}
	if strings.Join(cfg.Hostnames, ",") != "a.example,10.0.0.1" {
		t.Errorf("hostnames %v", cfg.Hostnames)
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("quoted value: %q", cfg.LogLevel)
	}
}

func TestConfigFromEnv(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.conf")
	os.WriteFile(file, []byte("turn-addr = :4478\n"), 0o600)
	cfg, err := Load(nil, env(map[string]string{"CLINICBOX_CONFIG": file, "CLINICBOX_DATA_DIR": "/d"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.TURNAddr != ":4478" || cfg.DataDir != "/d" {
		t.Fatalf("%+v", cfg)
	}
}

func TestHostnameList(t *testing.T) {
	cfg, err := Load([]string{"--hostname", "box.local, 192.168.1.10", "--hostname", "box"}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Hostnames, ",") != "box.local,192.168.1.10,box" {
		t.Fatalf("%v", cfg.Hostnames)
	}
}

func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	badFile := filepath.Join(dir, "bad.conf")
	os.WriteFile(badFile, []byte("https-addr = :443\nno-such-thing = 1\n"), 0o600)
	noEq := filepath.Join(dir, "noeq.conf")
	os.WriteFile(noEq, []byte("https-addr :443\n"), 0o600)
	badValue := filepath.Join(dir, "badvalue.conf")
	os.WriteFile(badValue, []byte("\n\nhttp-addr = nowhere\n"), 0o600)

	cases := []struct {
		name  string
		args  []string
		env   map[string]string
		field string
		msg   string
	}{
		{"bogus https addr", []string{"--https-addr", "bogus"}, nil, "https-addr", "not a listen address"},
		{"port out of range", []string{"--http-addr", ":99999"}, nil, "http-addr", "port"},
		{"hostname listen", []string{"--metrics-addr", "example.com:9464"}, nil, "metrics-addr", "IP address"},
		{"unknown flag", []string{"--colour", "red"}, nil, "colour", "unknown flag"},
		{"missing value", []string{"--data-dir"}, nil, "data-dir", "needs a value"},
		{"stray arg", []string{"now"}, nil, "serve", "unexpected argument"},
		{"tls mode", []string{"--tls-mode", "magic"}, nil, "tls-mode", "internal, acme, files"},
		{"bad hostname", []string{"--hostname", "bad_name!"}, nil, "hostname", "not a host name"},
		{"acme without names", []string{"--tls-mode", "acme"}, nil, "hostname", "public name"},
		{"acme with ip", []string{"--tls-mode", "acme", "--hostname", "10.1.1.1"}, nil, "hostname", "IP address"},
		{"files without cert", []string{"--tls-mode", "files"}, nil, "cert-file", "--cert-file"},
		{"files without key", []string{"--tls-mode", "files", "--cert-file", "c.pem"}, nil, "key-file", "--key-file"},
		{"open metrics without token", []string{"--metrics-addr", ":9464"}, nil, "metrics-token", "token"},
		{"bad duration", []string{"--shutdown-timeout", "soon"}, nil, "shutdown-timeout", "duration"},
		{"bad size", []string{"--max-upload", "huge"}, nil, "max-upload", "size"},
		{"size too big", []string{"--max-upload", "2GB"}, nil, "max-upload", "1GB"},
		{"bad env", nil, map[string]string{"CLINICBOX_HTTPS_ADDR": "x"}, "https-addr", "not a listen address"},
		{"missing config", []string{"--config", filepath.Join(dir, "missing.conf")}, nil, "config", "cannot read"},
		{"unknown key in file", []string{"--config", badFile}, nil, "no-such-thing", "unknown setting"},
		{"no equals in file", []string{"--config", noEq}, nil, "config", "line 1"},
		{"bad value in file", []string{"--config", badValue}, nil, "http-addr", "line 3"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.args, env(c.env), io.Discard)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FieldError, got %v", err)
			}
			if fe.Field != c.field {
				t.Errorf("field %q, want %q (%v)", fe.Field, c.field, err)
			}
			if !strings.Contains(err.Error(), c.msg) {
				t.Errorf("message %q does not mention %q", err.Error(), c.msg)
			}
		})
	}
}

func TestMaxUpload(t *testing.T) {
	for in, want := range map[string]int64{"25MB": 25 << 20, "500kb": 500 << 10, "1048576": 1 << 20, "1 GB": 1 << 30} {
		cfg, err := Load([]string{"--max-upload", in}, env(nil), io.Discard)
		if err != nil || cfg.MaxUpload != want {
			t.Errorf("%s: %d %v", in, cfg.MaxUpload, err)
		}
	}
}

func TestHelp(t *testing.T) {
	var out strings.Builder
	_, err := Load([]string{"--help"}, env(nil), &out)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"--data-dir", "--https-addr", "--http-addr", "--metrics-addr", "--turn-addr", "--hostname", "--config", "CLINICBOX_DATA_DIR"} {
		if !strings.Contains(out.String(), strings.TrimPrefix(want, "-")) {
			t.Errorf("usage lacks %s", want)
		}
	}
}

func TestDefaultHostnames(t *testing.T) {
	names := DefaultHostnames()
	has := map[string]bool{}
	for _, n := range names {
		if has[n] {
			t.Errorf("duplicate %q", n)
		}
		has[n] = true
		if err := checkHostname(n); err != nil {
			t.Error(err)
		}
	}
	for _, want := range []string{"localhost", "127.0.0.1"} {
		if !has[want] {
			t.Errorf("missing %s in %v", want, names)
		}
	}
}

func FuzzParseFile(f *testing.F) {
	f.Add("data-dir = /x\n# c\nhostname = \"a b\"\n")
	f.Add("=\n")
	f.Add("\uFEFFa=b")
	f.Add("k = \"")
	f.Fuzz(func(t *testing.T, s string) {
		entries, err := ParseFile(strings.NewReader(s), "fuzz.conf")
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error is not a FieldError: %v", err)
			}
			return
		}
		for _, e := range entries {
			if e.Key == "" || e.Line <= 0 {
				t.Fatalf("bad entry %+v", e)
			}
		}
	})
}
