package certs

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestInternalServesEveryName(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Config{DataDir: dir, Names: []string{"box.test", "Box.Local.", "127.0.0.1"}})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := m.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	addr := serveTLS(t, m.TLSConfig())
	roots := poolOf(t, m.RootCertPEM())

	for _, name := range []string{"box.test", "box.local", "127.0.0.1"} {
		t.Run(name, func(t *testing.T) {
			st, err := handshake(addr, &tls.Config{ServerName: name, RootCAs: roots, NextProtos: []string{"h2", "http/1.1"}})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if st.NegotiatedProtocol != "h2" {
				t.Errorf("ALPN = %q, want h2", st.NegotiatedProtocol)
			}
			if len(st.PeerCertificates) != 1 {
				t.Errorf("chain has %d certificates, want the leaf only", len(st.PeerCertificates))
			}
			leaf := st.PeerCertificates[0]
			if ip := net.ParseIP(name); ip != nil {
				if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(ip) {
					t.Errorf("SANs = %v %v, want IP %s only", leaf.DNSNames, leaf.IPAddresses, ip)
				}
			} else if len(leaf.IPAddresses) != 0 || len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != name {
				t.Errorf("SANs = %v %v, want DNS %s only", leaf.DNSNames, leaf.IPAddresses, name)
			}
			if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
				t.Errorf("ExtKeyUsage = %v, want serverAuth", leaf.ExtKeyUsage)
			}
			if leaf.IsCA {
				t.Error("leaf is a CA")
			}
			if life := leaf.NotAfter.Sub(leaf.NotBefore); life > maxLeafLifetime || life < 7*24*time.Hour {
				t.Errorf("leaf lifetime %v", life)
			}
			if !strings.HasPrefix(leaf.Issuer.CommonName, "clinicbox local CA ") {
				t.Errorf("issuer = %q", leaf.Issuer.CommonName)
			}
		})
	}

	// A real request over the connection, as a browser would make it.
	c := &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: roots},
		ForceAttemptHTTP2: true,
		DialTLSContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			d := tls.Dialer{Config: &tls.Config{ServerName: "box.test", RootCAs: roots, NextProtos: []string{"h2"}}}
			return d.DialContext(ctx, network, addr)
		},
	}}
	resp, err := c.Get("https://box.test/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok HTTP/2.0" {
		t.Errorf("body = %q", body)
	}

	// The CA key is private to the box's user; the root is public.
	for path, want := range map[string]fs.FileMode{
		filepath.Join(dir, "tls"):                   0o700,
		filepath.Join(dir, "tls", "ca"):             0o700,
		filepath.Join(dir, "tls", "ca", "root.key"): 0o600,
		filepath.Join(dir, "tls", "ca", "root.crt"): 0o644,
	} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
	}
}

// A browser opening https://127.0.0.1:port/ sends no SNI. The box must then
// present the certificate for the address that was dialled.
func TestInternalNoSNIUsesLocalAddress(t *testing.T) {
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test", "127.0.0.1"}})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	tc := m.TLSConfig()
	var sawSNI atomic.Value
	get := tc.GetCertificate
	tc.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		sawSNI.Store(h.ServerName)
		return get(h)
	}
	addr := serveTLS(t, tc)

	// Go's client, like browsers, sends no SNI when the name is an IP
	// address, and verifies the certificate against that address.
	st, err := handshake(addr, &tls.Config{ServerName: "127.0.0.1", RootCAs: poolOf(t, m.RootCertPEM())})
	if err != nil {
		t.Fatalf("handshake without SNI: %v", err)
	}
	if got := sawSNI.Load(); got != "" {
		t.Fatalf("server saw SNI %q; the test needs a client that sends none", got)
	}
	if ips := st.PeerCertificates[0].IPAddresses; len(ips) != 1 || !ips[0].Equal(net.IPv4(127, 0, 0, 1)) {
		t.Errorf("served %v, want the certificate for 127.0.0.1", ips)
	}

	// A dual-stack listener ([::]:443, the usual way to listen) sees IPv4
	// clients at ::ffff:127.0.0.1, which must still match 127.0.0.1.
	ln, err := net.Listen("tcp", "[::]:0")
	if err != nil {
		t.Skipf("no dual-stack listener here: %v", err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				tls.Server(c, m.TLSConfig()).Handshake()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if _, err := handshake("127.0.0.1:"+port, &tls.Config{ServerName: "127.0.0.1", RootCAs: poolOf(t, m.RootCertPEM())}); err != nil {
		t.Errorf("no-SNI handshake through a dual-stack listener: %v", err)
	}
}

// An address that is not configured (the box got a new DHCP lease) falls
// back to the primary name: the browser then shows a name mismatch that
// names the box, rather than a bare handshake failure.
func TestInternalNoSNIFallsBackToPrimaryName(t *testing.T) {
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test", "box.local"}})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m.TLSConfig())
	st, err := handshake(addr, &tls.Config{InsecureSkipVerify: true}) // no ServerName: no SNI
	if err != nil {
		t.Fatal(err)
	}
	leaf := st.PeerCertificates[0]
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "box.test", Roots: poolOf(t, m.RootCertPEM())}); err != nil {
		t.Errorf("served certificate is not box.test's: %v", err)
	}
}

func TestInternalRootKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	names := []string{"box.test"}

	m1, err := New(context.Background(), Config{DataDir: dir, Names: names})
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	root1, fp1 := m1.RootCertPEM(), m1.RootFingerprint()
	st1, err := handshake(serveTLS(t, m1.TLSConfig()), &tls.Config{ServerName: "box.test", RootCAs: poolOf(t, root1)})
	if err != nil {
		t.Fatal(err)
	}
	if err := m1.Close(); err != nil {
		t.Fatal(err)
	}

	m2 := newManager(t, Config{DataDir: dir, Names: names})
	if string(m2.RootCertPEM()) != string(root1) || m2.RootFingerprint() != fp1 {
		t.Fatal("second start made a new root; devices that installed the first would stop trusting the box")
	}
	if err := m2.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	st2, err := handshake(serveTLS(t, m2.TLSConfig()), &tls.Config{ServerName: "box.test", RootCAs: poolOf(t, root1)})
	if err != nil {
		t.Fatal(err)
	}
	if st1.PeerCertificates[0].SerialNumber.Cmp(st2.PeerCertificates[0].SerialNumber) != 0 {
		t.Error("restart issued a new leaf instead of loading the stored one")
	}

	// The fingerprint is what a person compares on the install page.
	block, _ := pem.Decode(root1)
	sum := sha256.Sum256(block.Bytes)
	want := strings.ToUpper(hex.EncodeToString(sum[:]))
	if got := strings.ReplaceAll(fp1, ":", ""); got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	if !regexp.MustCompile(`^([0-9A-F]{2}:){31}[0-9A-F]{2}$`).MatchString(fp1) {
		t.Errorf("fingerprint format %q", fp1)
	}
	root, _ := x509.ParseCertificate(block.Bytes)
	if !root.IsCA || !root.MaxPathLenZero || root.NotAfter.Sub(root.NotBefore) < 9*365*24*time.Hour {
		t.Errorf("root: CA=%v maxPathLenZero=%v validity=%v", root.IsCA, root.MaxPathLenZero, root.NotAfter.Sub(root.NotBefore))
	}
	if k, ok := root.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P256() {
		t.Errorf("root key %T, want ECDSA P-256", root.PublicKey)
	}
}

// Before Manage (or if a certificate was lost) a handshake for a configured
// name is served on demand; any other name gets nothing, and no certificate
// is minted for it.
func TestInternalOnDemandOnlyForConfiguredNames(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Config{DataDir: dir, Names: []string{"box.test"}})
	addr := serveTLS(t, m.TLSConfig())
	roots := poolOf(t, m.RootCertPEM())

	if _, err := handshake(addr, &tls.Config{ServerName: "box.test", RootCAs: roots}); err != nil {
		t.Fatalf("configured name: %v", err)
	}
	if _, err := handshake(addr, &tls.Config{ServerName: "evil.test", InsecureSkipVerify: true}); err == nil {
		t.Fatal("handshake for an unconfigured name succeeded")
	}
	filepath.WalkDir(dir, func(path string, _ fs.DirEntry, _ error) error {
		if strings.Contains(path, "evil") {
			t.Errorf("something was stored for the unconfigured name: %s", path)
		}
		return nil
	})

	// The issuer refuses on its own too, whoever asks.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tmpl := range []*x509.CertificateRequest{
		{DNSNames: []string{"evil.test"}},
		{IPAddresses: []net.IP{net.IPv4(10, 9, 9, 9)}},
		{DNSNames: []string{"box.test"}, EmailAddresses: []string{"x@box.test"}},
	} {
		der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
		if err != nil {
			t.Fatal(err)
		}
		csr, _ := x509.ParseCertificateRequest(der)
		if _, err := m.ca.Issue(context.Background(), csr); err == nil {
			t.Errorf("local CA signed %v %v %v", tmpl.DNSNames, tmpl.IPAddresses, tmpl.EmailAddresses)
		}
	}
}

// CertMagic renews a leaf once a third of its lifetime is left. The CA's
// clock is set back six days for the first issue, so the leaf has one day
// left when the real clock reads it.
func TestInternalRenewal(t *testing.T) {
	var offset atomic.Int64
	offset.Store(int64(-6 * 24 * time.Hour))
	now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test"}, Now: now})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Read from the cache, not through a handshake: a handshake would
	// itself renew the certificate (on-demand maintenance), still with the
	// CA's clock set back.
	old := m.newestLeaf("box.test")
	if left := time.Until(old.NotAfter); left > 25*time.Hour {
		t.Fatalf("setup: leaf has %v left, want about a day", left)
	}
	if got := metrics(t, m)["clinicbox_tls_certificate_expiry_timestamp_seconds"]; got != float64(old.NotAfter.Unix()) {
		t.Errorf("expiry metric %v, want %v", got, old.NotAfter.Unix())
	}

	offset.Store(0)
	// What CertMagic's maintenance loop does every 10 minutes.
	if err := m.cache.RenewManagedCertificates(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the renewal", func() bool { return time.Until(m.newestLeaf("box.test").NotAfter) > 6*24*time.Hour })
	renewed := m.newestLeaf("box.test")
	st, err := handshake(serveTLS(t, m.TLSConfig()), &tls.Config{ServerName: "box.test", RootCAs: poolOf(t, m.RootCertPEM())})
	if err != nil {
		t.Fatal(err)
	}
	if !st.PeerCertificates[0].Equal(renewed) || renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Error("handshake does not get the renewed certificate")
	}
	mt := metrics(t, m)
	if mt[`clinicbox_tls_certificate_renewals_total{result=success}`] != 2 || mt[`clinicbox_tls_certificate_renewals_total{result=failure}`] != 0 {
		t.Errorf("renewal counters = %v, want 2 successes (issue + renewal)", mt)
	}
	if got := mt["clinicbox_tls_certificate_expiry_timestamp_seconds"]; got != float64(renewed.NotAfter.Unix()) {
		t.Errorf("expiry metric %v, want %v", got, renewed.NotAfter.Unix())
	}
}

func TestTLSPolicy(t *testing.T) {
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test"}})
	if err := m.Manage(context.Background()); err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, m.TLSConfig())
	roots := poolOf(t, m.RootCertPEM())
	for _, tc := range []struct {
		name string
		cfg  *tls.Config
		ok   bool
	}{
		{"TLS 1.3", &tls.Config{MinVersion: tls.VersionTLS13}, true},
		{"TLS 1.2 ECDHE AES-GCM", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}}, true},
		{"TLS 1.2 ECDHE ChaCha20", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256}}, true},
		{"TLS 1.2 CBC", &tls.Config{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}, false},
		{"TLS 1.1", &tls.Config{MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.ServerName, cfg.RootCAs = "box.test", roots
			_, err := handshake(addr, cfg)
			if (err == nil) != tc.ok {
				t.Errorf("handshake error = %v, want success %v", err, tc.ok)
			}
		})
	}
	if got := m.TLSConfig().NextProtos; strings.Join(got, ",") != "h2,http/1.1" {
		t.Errorf("internal mode ALPN = %v", got)
	}
}

func TestHTTPChallengeHandlerPassesThroughOutsideACME(t *testing.T) {
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test"}})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	for _, path := range []string{"/", "/.well-known/acme-challenge/abc"} {
		rec := httptest.NewRecorder()
		m.HTTPChallengeHandler(next).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://box.test"+path, nil))
		if rec.Code != http.StatusTeapot {
			t.Errorf("%s: status %d, want the next handler's", path, rec.Code)
		}
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Mode: "self-signed", DataDir: dir, Names: []string{"box.test"}}, `certs: mode "self-signed"`},
		{Config{DataDir: dir}, "certs: names: at least one name"},
		{Config{Names: []string{"box.test"}}, "certs: data-dir: required"},
		{Config{DataDir: dir, Names: []string{"*.box.test"}}, `certs: names: "*.box.test"`},
		{Config{DataDir: dir, Names: []string{"box.test:8443"}}, `certs: names: "box.test:8443"`},
		{Config{DataDir: dir, Names: []string{"box test"}}, `certs: names: "box test"`},
		{Config{DataDir: filepath.Join(dir, "file"), Names: []string{"box.test"}}, "certs: data-dir " + filepath.Join(dir, "file")},
		{Config{Mode: ModeACME, DataDir: dir, Names: []string{"box.local"}}, `certs: names: "box.local" cannot get a public certificate`},
		{Config{Mode: ModeACME, DataDir: dir, Names: []string{"box.example"}, ACMECA: "http://acme.test/dir"}, "certs: acme-ca"},
		{Config{Mode: ModeACME, DataDir: dir, Names: []string{"box.example"}, ACMEEmail: "nope"}, "certs: acme-email"},
		{Config{Mode: ModeACME, DataDir: dir, Names: []string{"box.example"}, ACMECARoot: filepath.Join(dir, "none.pem")}, "certs: acme-ca-root " + filepath.Join(dir, "none.pem") + ": no such file"},
		{Config{Mode: ModeACME, DataDir: dir, Names: []string{"box.example"}, DisableHTTPChallenge: true, DisableTLSALPNChallenge: true}, "certs: acme: both"},
		{Config{Mode: ModeFiles, KeyFile: "k"}, "certs: cert-file: required"},
		{Config{Mode: ModeFiles, CertFile: "c"}, "certs: key-file: required"},
	} {
		os.WriteFile(filepath.Join(dir, "file"), nil, 0o600)
		_, err := New(context.Background(), tc.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error starting %q", tc.cfg, err, tc.want)
		}
	}
}

// A damaged CA directory is reported, never silently replaced: the
// clinic's devices trust the root that is there.
func TestLocalCARefusesToReplaceRoot(t *testing.T) {
	dir := t.TempDir()
	m := newManager(t, Config{DataDir: dir, Names: []string{"box.test"}})
	root := m.RootCertPEM()
	caDir := filepath.Join(dir, "tls", "ca")

	keyPEM, _ := os.ReadFile(filepath.Join(caDir, "root.key"))
	os.Remove(filepath.Join(caDir, "root.key"))
	if _, err := New(context.Background(), Config{DataDir: dir, Names: []string{"box.test"}}); err == nil ||
		!strings.Contains(err.Error(), "root.key is missing") {
		t.Errorf("missing key: %v", err)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKCS8PrivateKey(other)
	os.WriteFile(filepath.Join(caDir, "root.key"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	if _, err := New(context.Background(), Config{DataDir: dir, Names: []string{"box.test"}}); err == nil ||
		!strings.Contains(err.Error(), "does not belong to key") {
		t.Errorf("foreign key: %v", err)
	}

	// Put the right key back, too widely readable: it is tightened.
	os.WriteFile(filepath.Join(caDir, "root.key"), keyPEM, 0o644)
	os.Chmod(filepath.Join(caDir, "root.key"), 0o644)
	m2 := newManager(t, Config{DataDir: dir, Names: []string{"box.test"}})
	if string(m2.RootCertPEM()) != string(root) {
		t.Error("root changed")
	}
	if fi, _ := os.Stat(filepath.Join(caDir, "root.key")); fi.Mode().Perm() != 0o600 {
		t.Errorf("key mode %v after load, want 0600", fi.Mode().Perm())
	}
}

func TestMetricsBeforeAnyCertificate(t *testing.T) {
	m := newManager(t, Config{DataDir: t.TempDir(), Names: []string{"box.test"}})
	mt := metrics(t, m)
	for key, want := range map[string]float64{
		"clinicbox_tls_certificate_expiry_timestamp_seconds":       0,
		"clinicbox_tls_certificate_renewals_total{result=success}": 0,
		"clinicbox_tls_certificate_renewals_total{result=failure}": 0,
	} {
		got, ok := mt[key]
		if !ok || got != want {
			t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
		}
	}
	if err := m.Ready(context.Background()); err == nil {
		t.Error("Ready before any certificate")
	}
}
