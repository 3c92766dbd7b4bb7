package certs

import (
	"context"
	"crypto/tls"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilesReloadsAndKeepsServingOnBadReplacement(t *testing.T) {
	dir := t.TempDir()
	certPath, keyPath := filepath.Join(dir, "box.crt"), filepath.Join(dir, "box.key")
	certA, keyA := selfSigned(t, 1, "box.test")
	writeFile(t, certPath, certA)
	writeFile(t, keyPath, keyA)

	m := newManager(t, Config{Mode: ModeFiles, CertFile: certPath, KeyFile: keyPath, Names: []string{"box.test"}, ReloadInterval: 5 * time.Millisecond})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if m.RootCertPEM() != nil || m.RootFingerprint() != "" {
		t.Error("files mode offers a local root")
	}
	addr := serveTLS(t, m.TLSConfig())
	served := func() int64 {
		st, err := handshake(addr, &tls.Config{ServerName: "box.test", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		return st.PeerCertificates[0].SerialNumber.Int64()
	}
	if got := served(); got != 1 {
		t.Fatalf("serving serial %d, want A (1)", got)
	}

	// Replaced the way an administrator would: key first, then certificate.
	certB, keyB := selfSigned(t, 2, "box.test")
	writeFile(t, keyPath, keyB)
	writeFile(t, certPath, certB)
	waitFor(t, "certificate B to be served", func() bool { return served() == 2 })
	mt := metrics(t, m)
	if mt["clinicbox_tls_certificate_renewals_total{result=success}"] != 1 || mt["clinicbox_tls_certificate_renewals_total{result=failure}"] != 0 {
		t.Errorf("after good reload: %v (a half-replaced pair must not count as a failure)", mt)
	}
	expiryB := mt["clinicbox_tls_certificate_expiry_timestamp_seconds"]

	writeFile(t, certPath, []byte("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n"))
	waitFor(t, "the bad replacement to be refused", func() bool {
		return metrics(t, m)["clinicbox_tls_certificate_renewals_total{result=failure}"] == 1
	})
	if got := served(); got != 2 {
		t.Errorf("after bad replacement serving serial %d, want B (2)", got)
	}
	if got := metrics(t, m)["clinicbox_tls_certificate_expiry_timestamp_seconds"]; got != expiryB {
		t.Errorf("expiry metric moved to %v after a refused reload", got)
	}
	if err := m.Ready(context.Background()); err != nil {
		t.Errorf("Ready after refused reload: %v", err)
	}
}

func TestFilesNewNamesThePath(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, 1, "box.test")
	_, otherKey := selfSigned(t, 2, "box.test")
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	other := filepath.Join(dir, "other.pem")
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, cert, certPEM)
	writeFile(t, key, keyPEM)
	writeFile(t, other, otherKey)
	writeFile(t, garbage, []byte("not PEM"))
	missing := filepath.Join(dir, "missing.pem")

	cases := []struct{ cert, key, want string }{
		{missing, key, "certs: cert-file " + missing + ": no such file or directory"},
		{cert, missing, "certs: key-file " + missing + ": no such file or directory"},
		{garbage, key, "certs: cert-file " + garbage + ": no PEM certificate"},
		{cert, garbage, "certs: key-file " + garbage + ": no PEM private key"},
		{cert, other, "certs: key-file " + other + " does not match cert-file " + cert},
	}
	if os.Geteuid() != 0 { // root reads anything
		locked := filepath.Join(dir, "locked.pem")
		writeFile(t, locked, certPEM)
		os.Chmod(locked, 0)
		cases = append(cases, struct{ cert, key, want string }{locked, key, "certs: cert-file " + locked + ": permission denied"})
	}
	for _, tc := range cases {
		_, err := New(context.Background(), Config{Mode: ModeFiles, CertFile: tc.cert, KeyFile: tc.key})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("cert %s key %s: %v, want %q", filepath.Base(tc.cert), filepath.Base(tc.key), err, tc.want)
		}
	}
}

func TestFilesReadyChecksPrimaryName(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM := selfSigned(t, 1, "other.test")
	writeFile(t, filepath.Join(dir, "c"), certPEM)
	writeFile(t, filepath.Join(dir, "k"), keyPEM)
	m := newManager(t, Config{Mode: ModeFiles, CertFile: filepath.Join(dir, "c"), KeyFile: filepath.Join(dir, "k"), Names: []string{"box.test"}})
	if err := m.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), `does not cover "box.test"`) {
		t.Errorf("Ready = %v", err)
	}
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
