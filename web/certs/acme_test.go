package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/letsencrypt/challtestsrv"
	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/libdns/libdns"
)

const acmeName = "box.clinic.test"

// TestACME obtains a certificate end to end from pebble, a real ACME server
// run in-process, whose validation authority really fetches the HTTP-01
// token from our plain-HTTP handler or really handshakes with our TLS
// listener for TLS-ALPN-01, after resolving the name through challtestsrv.
func TestACME(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ACME server")
	}
	// Read by pebble's constructors: no random 0-15 s validation delay,
	// and no deliberately rejected nonces (they only slow the test down).
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := newTestLog(t)
	dnsAddr := startDNS(t, logs)

	for _, challenge := range []string{"http-01", "tls-alpn-01"} {
		t.Run(challenge, func(t *testing.T) {
			// Our servers first: pebble's VA is told their ports.
			httpLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			httpPort := httpLn.Addr().(*net.TCPAddr).Port
			tlsPort := tlsLn.Addr().(*net.TCPAddr).Port
			p := startPebble(t, logs, dnsAddr, httpPort, tlsPort)

			m := newManager(t, Config{
				Mode:                    ModeACME,
				DataDir:                 t.TempDir(),
				Names:                   []string{acmeName},
				ACMECA:                  p.directory,
				ACMECARoot:              p.serverRootFile,
				ACMEEmail:               "admin@clinic.test",
				HTTPPort:                httpPort,
				HTTPSPort:               tlsPort,
				DisableHTTPChallenge:    challenge != "http-01",
				DisableTLSALPNChallenge: challenge != "tls-alpn-01",
				Logger:                  logs.slog(),
			})

			// The web layer's two servers, instrumented to prove which
			// challenge pebble really validated.
			var httpTokens, alpnHellos atomic.Int32
			httpSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasPrefix(r.URL.Path, "/.well-known/acme-challenge/") {
					httpTokens.Add(1)
				}
				m.HTTPChallengeHandler(http.NotFoundHandler()).ServeHTTP(w, r)
			})}
			go httpSrv.Serve(httpLn)
			t.Cleanup(func() { httpSrv.Close() })
			tlsCfg := m.TLSConfig()
			get := tlsCfg.GetCertificate
			tlsCfg.GetCertificate = func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if len(h.SupportedProtos) == 1 && h.SupportedProtos[0] == "acme-tls/1" {
					alpnHellos.Add(1)
				}
				return get(h)
			}
			httpsSrv := &http.Server{
				Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("hello")) }),
				TLSConfig: tlsCfg,
				ErrorLog:  logs.std("https "),
			}
			go httpsSrv.ServeTLS(tlsLn, "", "")
			t.Cleanup(func() { httpsSrv.Close() })

			if err := m.Ready(context.Background()); err == nil {
				t.Fatal("Ready before Manage")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if err := m.Manage(ctx); err != nil {
				t.Fatalf("Manage: %v", err)
			}
			if err := m.Ready(ctx); err != nil {
				t.Fatalf("Ready: %v", err)
			}
			switch challenge {
			case "http-01":
				if httpTokens.Load() == 0 || alpnHellos.Load() != 0 {
					t.Errorf("HTTP-01 token fetches %d, TLS-ALPN hellos %d", httpTokens.Load(), alpnHellos.Load())
				}
			case "tls-alpn-01":
				if alpnHellos.Load() == 0 || httpTokens.Load() != 0 {
					t.Errorf("TLS-ALPN hellos %d, HTTP-01 token fetches %d", alpnHellos.Load(), httpTokens.Load())
				}
			}

			// A client that trusts pebble's root, and nothing else.
			st, err := handshake(tlsLn.Addr().String(), &tls.Config{ServerName: acmeName, RootCAs: p.issuingRoots})
			if err != nil {
				t.Fatalf("handshake: %v", err)
			}
			leaf := st.PeerCertificates[0]
			if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != acmeName || len(leaf.IPAddresses) != 0 {
				t.Errorf("SANs = %v %v", leaf.DNSNames, leaf.IPAddresses)
			}
			chain := st.VerifiedChains[0]
			if !chain[len(chain)-1].Equal(p.ca.GetRootCert(0).Cert) {
				t.Error("chain does not end at pebble's root")
			}
			if len(st.PeerCertificates) < 2 {
				t.Error("server sent no intermediate")
			}
			if m.RootCertPEM() != nil {
				t.Error("acme mode offers a local root")
			}
			mt := metrics(t, m)
			if mt["clinicbox_tls_certificate_renewals_total{result=success}"] != 1 {
				t.Errorf("metrics %v", mt)
			}
			if got := mt["clinicbox_tls_certificate_expiry_timestamp_seconds"]; got != float64(leaf.NotAfter.Unix()) {
				t.Errorf("expiry metric %v, want %v", got, leaf.NotAfter.Unix())
			}
			if protos := m.TLSConfig().NextProtos; protos[len(protos)-1] != "acme-tls/1" {
				t.Errorf("ALPN %v lacks acme-tls/1", protos)
			}
		})
	}
}

// An ACME failure reaches Manage's caller and Ready, in words, while
// CertMagic goes on retrying in the background.
func TestACMEFailureIsReported(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an ACME server")
	}
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := newTestLog(t)
	dnsAddr := startDNS(t, logs)
	// Nothing listens on the port pebble will try: validation fails.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := startPebble(t, logs, dnsAddr, deadPort, deadPort)
	m := newManager(t, Config{
		Mode: ModeACME, DataDir: t.TempDir(), Names: []string{acmeName},
		ACMECA: p.directory, ACMECARoot: p.serverRootFile,
		// Another listener holds the "HTTP port" so that CertMagic does
		// not start its own challenge server there.
		HTTPPort: busyPort(t), DisableTLSALPNChallenge: true,
		Logger: logs.slog(),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = m.Manage(ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "certs: obtaining certificate") {
		t.Fatalf("Manage = %v", err)
	}
	if err := m.Ready(ctx); err == nil || !strings.Contains(err.Error(), "last attempt") {
		t.Errorf("Ready = %v", err)
	}
	if got := metrics(t, m)["clinicbox_tls_certificate_renewals_total{result=failure}"]; got < 1 {
		t.Errorf("failure counter %v", got)
	}
	if strings.Contains(logs.String(), "admin@") || strings.Contains(err.Error(), "admin@") {
		t.Error("an e-mail address reached the log or an error")
	}
}

type pebble struct {
	ca             *ca.CAImpl
	directory      string         // ACME directory URL
	serverRootFile string         // PEM of the ACME server's own HTTPS certificate
	issuingRoots   *x509.CertPool // the root pebble issues under
}

// startPebble runs pebble's web front end, CA and VA in-process. The VA
// validates HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort of whatever the
// DNS server at dnsAddr says the name is.
func startPebble(t *testing.T, logs *testLog, dnsAddr string, httpPort, tlsPort int) *pebble {
	t.Helper()
	logger := logs.std("pebble ")
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{"default": {Description: "default"}})
	validator := va.New(logger, httpPort, tlsPort, false, dnsAddr, store)
	frontEnd := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 0, 0)
	srv := httptest.NewTLSServer(frontEnd.Handler())
	t.Cleanup(srv.Close)

	rootFile := filepath.Join(t.TempDir(), "acme-server-root.pem")
	writeFile(t, rootFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	roots := x509.NewCertPool()
	roots.AddCert(authority.GetRootCert(0).Cert)
	return &pebble{ca: authority, directory: srv.URL + wfe.DirectoryPath, serverRootFile: rootFile, issuingRoots: roots}
}

// startDNS runs challtestsrv as pebble's resolver. It answers 127.0.0.1
// for the test name only, so validation depends on that lookup.
func startDNS(t *testing.T, logs *testLog) string {
	t.Helper()
	addr := "127.0.0.1:" + strconv.Itoa(busyPortReleased(t))
	srv, err := challtestsrv.New(challtestsrv.Config{DNSAddrs: []string{addr}, Log: logs.std("dns ")})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetDefaultDNSIPv4("")
	srv.SetDefaultDNSIPv6("")
	srv.AddDNSARecord(acmeName, []string{"127.0.0.1"})
	srv.Run()
	t.Cleanup(srv.Shutdown)
	waitFor(t, "the DNS server", func() bool { // pebble asks over TCP
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return addr
}

// busyPort returns a port held by a listener until the test ends.
func busyPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// busyPortReleased returns a port that was free a moment ago, for servers
// (challtestsrv) that insist on binding an address themselves.
func busyPortReleased(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// fakeDNS stands in for a libdns provider (Cloudflare, deSEC, …): the
// solver can only be wired, not exercised, without a real DNS zone.
type fakeDNS struct{}

func (fakeDNS) AppendRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

func (fakeDNS) DeleteRecords(context.Context, string, []libdns.Record) ([]libdns.Record, error) {
	return nil, nil
}

func TestACMEDNSProviderSelectsDNS01(t *testing.T) {
	m := newManager(t, Config{Mode: ModeACME, DataDir: t.TempDir(), Names: []string{"box.example.org"}, DNSProvider: fakeDNS{}})
	s, ok := m.acme.DNS01Solver.(*certmagic.DNS01Solver)
	if !ok || s.DNSProvider != (fakeDNS{}) {
		t.Fatalf("DNS01Solver = %#v", m.acme.DNS01Solver)
	}
	if m.acme.CA != certmagic.LetsEncryptProductionCA || !m.acme.Agreed {
		t.Errorf("CA %q agreed %v", m.acme.CA, m.acme.Agreed)
	}
}
