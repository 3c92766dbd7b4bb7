package config

import (
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"
)

const testTSIGSecret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ="

func TestDNS01OffByDefault(t *testing.T) {
	cfg, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DNS01Enabled() || cfg.DNS01.TSIGAlgorithm != "hmac-sha256" {
		t.Fatalf("DNS-01 defaults: %+v", cfg.DNS01)
	}
}

func TestDNS01Settings(t *testing.T) {
	bare := writeFile(t, "secret", testTSIGSecret+"\n")
	// What `tsig-keygen -a hmac-sha512 clinicbox-key` prints.
	bind := writeFile(t, "clinicbox-key.conf", "key \"clinicbox-key\" {\n\talgorithm hmac-sha512;\n\tsecret \""+testTSIGSecret+"\";\n};\n")
	// What Knot's `keymgr -t clinicbox-key hmac-sha512` prints.
	knot := writeFile(t, "knot.yaml", "# hmac-sha512:clinicbox-key:"+testTSIGSecret+"\nkey:\n  - id: clinicbox-key\n    algorithm: hmac-sha512\n    secret: "+testTSIGSecret+"\n")
	for _, file := range []string{bare, bind, knot} {
		t.Run(filepath.Base(file), func(t *testing.T) {
			cfg, err := Load([]string{"--tls-mode", "acme", "--hostname", "box.Example-Clinic.se",
				"--acme-dns-server", "ns1.example-clinic.se:53", "--acme-dns-zone", "Example-Clinic.SE",
				"--acme-dns-tsig-key", "clinicbox-key", "--acme-dns-tsig-algorithm", "hmac-sha512"},
				env(map[string]string{"CLINICBOX_ACME_DNS_TSIG_SECRET_FILE": file}), io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			if !cfg.DNS01Enabled() || cfg.DNS01Zone() != "example-clinic.se." || cfg.DNS01.TSIGKey != "clinicbox-key" ||
				cfg.DNS01.TSIGAlgorithm != "hmac-sha512" || cfg.DNS01.Server != "ns1.example-clinic.se:53" {
				t.Fatalf("DNS-01 settings: %+v", cfg.DNS01)
			}
			if s, err := cfg.DNS01TSIGSecret(); err != nil || s != testTSIGSecret {
				t.Fatalf("secret %q %v", s, err)
			}
		})
	}

	// The zone apex itself is a name in the zone; so is an IPv6 server.
	if _, err := Load([]string{"--tls-mode", "acme", "--hostname", "example-clinic.se", "--acme-dns-server", "[2001:db8::53]:53",
		"--acme-dns-zone", "example-clinic.se.", "--acme-dns-tsig-key", "k", "--acme-dns-tsig-secret-file", bare}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestDNS01BadInput(t *testing.T) {
	secret := writeFile(t, "secret", testTSIGSecret+"\n")
	empty := writeFile(t, "empty", "\n")
	notBase64 := writeFile(t, "nb64", "this is not base64!\n")
	twoSecrets := writeFile(t, "two", testTSIGSecret+"\n"+testTSIGSecret+"\n")
	badClause := writeFile(t, "clause", "key \"k\" { secret \"oops; };\n")
	missing := filepath.Join(t.TempDir(), "missing")
	ok := []string{"--tls-mode", "acme", "--hostname", "box.example-clinic.se", "--acme-dns-server", "ns1.example-clinic.se:53",
		"--acme-dns-zone", "example-clinic.se.", "--acme-dns-tsig-key", "clinicbox-key", "--acme-dns-tsig-secret-file", secret}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	cases := []struct {
		name  string
		args  []string
		field string
		msg   string
	}{
		{"zone without server", []string{"--acme-dns-zone", "example-clinic.se."}, "acme-dns-server", "--acme-dns-zone is set"},
		{"key without server", []string{"--acme-dns-tsig-key", "k"}, "acme-dns-server", "--acme-dns-tsig-key is set"},
		{"not acme mode", with("--tls-mode", "internal"), "acme-dns-server", "tls-mode acme"},
		{"server without port", with("--acme-dns-server", "ns1.example-clinic.se"), "acme-dns-server", "not host:port"},
		{"server port zero", with("--acme-dns-server", "ns1.example-clinic.se:0"), "acme-dns-server", "not host:port"},
		{"server bad host", with("--acme-dns-server", "ns1_x!:53"), "acme-dns-server", "not a host name"},
		{"no zone", with("--acme-dns-zone", ""), "acme-dns-zone", "needs the zone"},
		{"bad zone", with("--acme-dns-zone", "example..se"), "acme-dns-zone", "not a DNS zone name"},
		{"ip zone", with("--acme-dns-zone", "192.0.2.1"), "acme-dns-zone", "not a DNS zone name"},
		{"hostname outside zone", with("--hostname", "box.example-clinic.se,box.other.se"), "acme-dns-zone", "box.other.se is not in zone example-clinic.se."},
		{"suffix is not a zone", with("--hostname", "boxexample-clinic.se"), "acme-dns-zone", "is not in zone"},
		{"no key", with("--acme-dns-tsig-key", ""), "acme-dns-tsig-key", "needs the name"},
		{"bad key", with("--acme-dns-tsig-key", "my key"), "acme-dns-tsig-key", "not a key name"},
		{"no secret file", with("--acme-dns-tsig-secret-file", ""), "acme-dns-tsig-secret-file", "needs a file"},
		{"missing secret file", with("--acme-dns-tsig-secret-file", missing), "acme-dns-tsig-secret-file", "cannot read"},
		{"empty secret file", with("--acme-dns-tsig-secret-file", empty), "acme-dns-tsig-secret-file", "is empty"},
		{"not base64", with("--acme-dns-tsig-secret-file", notBase64), "acme-dns-tsig-secret-file", "more than the secret"},
		{"two lines", with("--acme-dns-tsig-secret-file", twoSecrets), "acme-dns-tsig-secret-file", "more than the secret"},
		{"broken clause", with("--acme-dns-tsig-secret-file", badClause), "acme-dns-tsig-secret-file", "key clause"},
		{"md5", with("--acme-dns-tsig-algorithm", "hmac-md5"), "acme-dns-tsig-algorithm", "not one of"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(c.args, env(nil), io.Discard)
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("want *FieldError, got %v", err)
			}
			if fe.Field != c.field || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("got %q (field %s), want field %s and %q", err, fe.Field, c.field, c.msg)
			}
			if !strings.HasPrefix(err.Error(), "--"+c.field) {
				t.Fatalf("error does not start with the flag: %q", err)
			}
			if strings.Contains(err.Error(), testTSIGSecret) {
				t.Fatal("the secret is in the error")
			}
		})
	}

	// A single word that is not base64.
	word := writeFile(t, "word", "not-base64!\n")
	_, err := Load(with("--acme-dns-tsig-secret-file", word), env(nil), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not hold a base64 secret") {
		t.Fatalf("got %v", err)
	}
}

func TestDNS01SecretNotAFlag(t *testing.T) {
	fs := newFlagSet("serve", &Config{}, io.Discard)
	if fs.Lookup("acme-dns-tsig-secret") != nil {
		t.Fatal("a flag takes the TSIG secret itself")
	}
}
