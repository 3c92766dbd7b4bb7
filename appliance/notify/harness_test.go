package notify_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/prometheus/client_golang/prometheus"

	"clinicbox/appliance/notify"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, time.March, 10, 9, 0, 0, 0, time.UTC)

// clock is a fake clock for the debounce, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// logBuffer captures a notifier's log.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLog() (*slog.Logger, *logBuffer) {
	buf := &logBuffer{}
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// testPKI is a private CA and a certificate for 127.0.0.1 and localhost,
// as a clinic's own relay would have.
type testPKI struct {
	roots *x509.CertPool
	cert  tls.Certificate
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test relay CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "relay"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	return &testPKI{roots: roots, cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}}
}

const (
	smtpUser = "box@example-clinic.se"
	smtpPass = "correct horse battery staple"
	fromAddr = "noreply@example-clinic.se"
)

// received is a mail as the SMTP server got it.
type received struct {
	From   string
	To     []string
	Data   []byte
	TLS    bool
	Authed bool
}

// mailServer is a real SMTP server (go-smtp) on 127.0.0.1.
type mailServer struct {
	Addr string
	srv  *smtp.Server

	mu        sync.Mutex
	mails     []received
	authTries int
	commands  []string // AUTH and MAIL, in order
	arrived   chan struct{}
}

type serverOpts struct {
	tls         *tls.Config // nil: no STARTTLS offered
	implicitTLS bool
	requireAuth bool
	insecure    bool // allow AUTH without TLS (a bad relay)
}

func startMailServer(t *testing.T, o serverOpts) *mailServer {
	t.Helper()
	ms := &mailServer{arrived: make(chan struct{}, 100)}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, isTLS := c.TLSConnectionState()
		return &session{ms: ms, requireAuth: o.requireAuth, tls: isTLS}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = o.insecure
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	s.ErrorLog = discardLogger{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.implicitTLS {
		l = tls.NewListener(l, o.tls)
	} else {
		s.TLSConfig = o.tls
	}
	ms.Addr, ms.srv = l.Addr().String(), s
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return ms
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

func (ms *mailServer) received() []received {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]received(nil), ms.mails...)
}

func (ms *mailServer) log() []string {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return append([]string(nil), ms.commands...)
}

// next waits for the next mail.
func (ms *mailServer) next(t *testing.T) received {
	t.Helper()
	select {
	case <-ms.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("no mail arrived")
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	return ms.mails[len(ms.mails)-1]
}

type session struct {
	ms          *mailServer
	requireAuth bool
	tls         bool
	authed      bool
	from        string
	to          []string
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		s.ms.mu.Lock()
		s.ms.authTries++
		s.ms.commands = append(s.ms.commands, "AUTH")
		s.ms.mu.Unlock()
		if user != smtpUser || pass != smtpPass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.ms.mu.Lock()
	s.ms.commands = append(s.ms.commands, "MAIL")
	s.ms.mu.Unlock()
	if s.requireAuth && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	s.from = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.ms.mu.Lock()
	s.ms.mails = append(s.ms.mails, received{From: s.from, To: s.to, Data: b, TLS: s.tls, Authed: s.authed})
	s.ms.mu.Unlock()
	s.ms.arrived <- struct{}{}
	return nil
}

func (s *session) Reset()        { s.from, s.to = "", nil }
func (s *session) Logout() error { return nil }

// emailConfig is the notifier's side of a mail server started with pki.
func emailConfig(ms *mailServer, pki *testPKI, mode string) *notify.EmailConfig {
	return &notify.EmailConfig{Addr: ms.Addr, Mode: mode, Username: smtpUser, Password: smtpPass, From: fromAddr,
		RootCAs: pki.roots, Timeout: 5 * time.Second}
}

// startNotifier starts a notifier closed at the end of the test.
func startNotifier(t *testing.T, cfg notify.Config, log *slog.Logger, now func() time.Time) *notify.Notifier {
	t.Helper()
	if cfg.RetryDelay == 0 {
		cfg.RetryDelay = 10 * time.Millisecond
	}
	n, err := notify.New(cfg, log, now)
	if err != nil {
		t.Fatalf("notify.New: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// counter reads one of the notifier's counters through its Collector, as
// Prometheus would.
func counter(t *testing.T, n *notify.Notifier, name, channel string) float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(n.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			ok := channel == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "channel" && l.GetValue() == channel {
					ok = true
				}
			}
			if ok {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("no metric %s{channel=%q}", name, channel)
	return 0
}

// eventually waits until cond holds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// notifyOK calls Notify and checks that it returned quickly with want.
func notifyOK(t *testing.T, n *notify.Notifier, r notify.Recipient, m notify.Message, want bool) {
	t.Helper()
	start := time.Now()
	sent, err := n.Notify(t.Context(), r, m)
	if err != nil {
		t.Fatalf("Notify(%+v): %v", m, err)
	}
	if sent != want {
		t.Fatalf("Notify(%+v) sent = %v, want %v", m, sent, want)
	}
	if d := time.Since(start); d > 200*time.Millisecond {
		t.Fatalf("Notify took %v; it must not wait for delivery", d)
	}
}

func statusOf(t *testing.T, n *notify.Notifier, channel string) notify.ChannelStatus {
	t.Helper()
	for _, s := range n.Status() {
		if s.Channel == channel {
			return s
		}
	}
	t.Fatalf("no status for %s", channel)
	return notify.ChannelStatus{}
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s lacks %q:\n%s", what, sub, s)
		}
	}
}

func mustNotContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if sub != "" && strings.Contains(s, sub) {
			t.Errorf("%s contains %q:\n%s", what, sub, s)
		}
	}
}

func (p *testPKI) tlsConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.cert}}
}
