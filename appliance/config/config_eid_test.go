package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func testRootPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test broker root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestEIDOffByDefault(t *testing.T) {
	cfg, err := Load(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EIDEnabled() {
		t.Fatal("eID is on without --eid-issuer")
	}
	if cfg.EIDPnrClaim != DefaultEIDPnrClaim || cfg.EIDNameClaim != "name" || strings.Join(cfg.EIDScopeList(), ",") != "openid,profile" {
		t.Fatalf("eID defaults: %q %q %q", cfg.EIDPnrClaim, cfg.EIDNameClaim, cfg.EIDScopes)
	}
}

func TestEIDSettings(t *testing.T) {
	secret := writeFile(t, "secret", "s3cret-from-the-broker\n")
	root := writeFile(t, "root.pem", testRootPEM(t))
	conf := writeFile(t, "clinicbox.conf", "eid-issuer = https://clinic.idura.broker\neid-client-id = urn:my:application:identifier:1\n"+
		"eid-client-secret-file = "+secret+"\neid-pnr-claim = ssn\n")
	cfg, err := Load([]string{"--config", conf, "--eid-ca-root", root}, env(map[string]string{"CLINICBOX_EID_SCOPES": "openid profile nin"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.EIDEnabled() || cfg.EIDIssuer != "https://clinic.idura.broker" || cfg.EIDClientID != "urn:my:application:identifier:1" || cfg.EIDPnrClaim != "ssn" {
		t.Fatalf("%+v", cfg)
	}
	if s, err := cfg.EIDClientSecret(); err != nil || s != "s3cret-from-the-broker" {
		t.Fatalf("secret %q %v", s, err)
	}
	if got := strings.Join(cfg.EIDScopeList(), ","); got != "openid,profile,nin" {
		t.Fatalf("scopes %q", got)
	}
	pool, err := cfg.EIDRoots()
	if err != nil || pool == nil {
		t.Fatalf("roots: %v", err)
	}
}

func TestEIDBadInput(t *testing.T) {
	secret := writeFile(t, "secret", "abc\n")
	empty := writeFile(t, "empty", "\n")
	twoLines := writeFile(t, "two", "abc\ndef\n")
	notPEM := writeFile(t, "root.pem", "hello\n")
	missing := filepath.Join(t.TempDir(), "missing")
	ok := []string{"--eid-issuer", "https://broker.example", "--eid-client-id", "box", "--eid-client-secret-file", secret}
	with := func(extra ...string) []string { return append(append([]string{}, ok...), extra...) }
	cases := []struct {
		name  string
		args  []string
		field string
		msg   string
	}{
		{"client id without issuer", []string{"--eid-client-id", "box"}, "eid-issuer", "--eid-client-id is set"},
		{"http issuer", with("--eid-issuer", "http://broker.example"), "eid-issuer", "https://"},
		{"issuer with query", with("--eid-issuer", "https://broker.example/?a=b"), "eid-issuer", "https://"},
		{"no client id", []string{"--eid-issuer", "https://broker.example", "--eid-client-secret-file", secret}, "eid-client-id", "client id"},
		{"no secret file", []string{"--eid-issuer", "https://broker.example", "--eid-client-id", "box"}, "eid-client-secret-file", "file"},
		{"missing secret file", with("--eid-client-secret-file", missing), "eid-client-secret-file", "cannot read"},
		{"empty secret file", with("--eid-client-secret-file", empty), "eid-client-secret-file", "empty"},
		{"two-line secret file", with("--eid-client-secret-file", twoLines), "eid-client-secret-file", "more than one line"},
		{"empty pnr claim", with("--eid-pnr-claim", " "), "eid-pnr-claim", "personnummer"},
		{"empty name claim", with("--eid-name-claim", ""), "eid-name-claim", "name"},
		{"scopes without openid", with("--eid-scopes", "profile nin"), "eid-scopes", "openid"},
		{"missing ca root", with("--eid-ca-root", missing), "eid-ca-root", "cannot read"},
		{"ca root not pem", with("--eid-ca-root", notPEM), "eid-ca-root", "no PEM certificate"},
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
		})
	}
}

func TestEIDSecretNotInUsage(t *testing.T) {
	// The secret is read from a file; no flag takes it as a value.
	fs := newFlagSet("serve", &Config{}, io.Discard)
	if fs.Lookup("eid-client-secret") != nil {
		t.Fatal("a flag takes the secret itself")
	}
}
