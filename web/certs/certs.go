package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
	"github.com/prometheus/client_golang/prometheus"
)

// Mode selects where the box's certificates come from.
type Mode string

const (
	ModeInternal Mode = "internal" // the box's own CA (default)
	ModeACME     Mode = "acme"     // a public (or private) ACME CA
	ModeFiles    Mode = "files"    // a certificate and key on disk
)

// Config configures a Manager. The zero value of every field but Names (and
// DataDir, or CertFile and KeyFile in files mode) is usable.
type Config struct {
	Mode Mode

	// DataDir is the box's data directory; the local CA and CertMagic's
	// storage live under DataDir/tls/. Not used in files mode.
	DataDir string

	// Names are the DNS names and IP addresses the box answers to; the
	// first is the primary name (the one Ready checks and the one served
	// to a client that sends no SNI to an address not listed here).
	// Internationalised names must be given in their xn-- form.
	Names []string

	// ACMECA is the ACME directory URL; empty means Let's Encrypt
	// production. Choosing acme mode means accepting the CA's terms.
	ACMECA string
	// ACMEEmail is the optional contact address of the ACME account.
	ACMEEmail string
	// ACMECARoot is an optional PEM file with the root of the ACME
	// server's own HTTPS certificate, for a private ACME server (pebble,
	// step-ca); it is trusted in addition to the system roots.
	ACMECARoot string
	// DNSProvider, if set, solves DNS-01 challenges through a libdns
	// provider, and then HTTP-01 and TLS-ALPN-01 are not used; it is the
	// way to get a certificate when the router forwards neither port 80
	// nor 443. RFC2136 is the provider for a DNS server that takes
	// TSIG-signed dynamic updates.
	DNSProvider certmagic.DNSProvider
	// DNSResolvers, if set, are the DNS servers (host:port) asked to find
	// the challenge name's zone and to see the challenge record appear
	// before the CA is told to look. By default the system's resolvers
	// find the zone and each of the zone's authoritative servers is asked,
	// as the CA will.
	DNSResolvers []string
	// HTTPPort and HTTPSPort are the local ports of the web server's
	// plain-HTTP and HTTPS listeners (default 80 and 443), to which the
	// router forwards 80 and 443. CertMagic sees them in use and leaves
	// the challenges to HTTPChallengeHandler and TLSConfig; it would start
	// a challenge listener of its own only if they were free.
	HTTPPort, HTTPSPort int
	// DisableHTTPChallenge and DisableTLSALPNChallenge turn off one of
	// the two challenges, for a router that forwards only one port.
	DisableHTTPChallenge, DisableTLSALPNChallenge bool

	// CertFile and KeyFile are the PEM certificate (chain) and key that
	// files mode serves.
	CertFile, KeyFile string
	// ReloadInterval is how often files mode polls them (default 30s).
	ReloadInterval time.Duration

	Logger *slog.Logger
	// Now is the local CA's clock (default time.Now); tests move it to
	// make a certificate due for renewal.
	Now func() time.Time
}

// Manager owns the box's TLS certificates. It is safe for concurrent use.
type Manager struct {
	mode  Mode
	names []string              // normalised, primary first
	ips   map[netip.Addr]string // the IP addresses among names
	log   *slog.Logger

	ca        *localCA              // internal mode
	cache     *certmagic.Cache      // internal and acme modes
	magic     *certmagic.Config     // obtains and renews (background maintenance)
	handshake *certmagic.Config     // answers handshakes
	acme      *certmagic.ACMEIssuer // acme mode

	files          *fileCert // files mode
	filesSig       fileSig
	reloadInterval time.Duration

	renewals   *prometheus.CounterVec
	expiryDesc *prometheus.Desc

	// ctx lives until Close; background work (ACME retries, file polling)
	// hangs off it rather than off any caller's context.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	startOnce sync.Once
	startErr  error
	closeOnce sync.Once
	closeErr  error

	mu       sync.Mutex
	changed  chan struct{} // closed and replaced at every certificate event
	failures uint64
	lastErr  error
}

// closeTimeout bounds Close: CertMagic finishes a renewal in progress before
// its maintenance stops, and shutdown must not hang on a slow ACME server.
const closeTimeout = 10 * time.Second

// New validates cfg and loads (or, in internal mode, creates) what the mode
// needs. ctx bounds only that work; background work lasts until Close. Errors
// name the offending field or path.
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("certs: %w", err)
	}
	mode := cfg.Mode
	if mode == "" {
		mode = ModeInternal
	}
	switch mode {
	case ModeInternal, ModeACME, ModeFiles:
	default:
		return nil, fmt.Errorf("certs: mode %q: want internal, acme or files", cfg.Mode)
	}
	names, err := normalizeNames(cfg.Names)
	if err != nil {
		return nil, err
	}
	if len(names) == 0 && mode != ModeFiles {
		return nil, fmt.Errorf("certs: names: at least one name is required in %s mode", mode)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}

	m := &Manager{
		mode:    mode,
		names:   names,
		ips:     make(map[netip.Addr]string),
		log:     log,
		changed: make(chan struct{}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "clinicbox_tls_certificate_renewals_total",
			Help: "Attempts to obtain, renew or reload the box's TLS certificates, by result.",
		}, []string{"result"}),
		expiryDesc: prometheus.NewDesc("clinicbox_tls_certificate_expiry_timestamp_seconds",
			"When the first of the box's TLS certificates expires (Unix time); 0 while a name has no certificate.",
			nil, nil),
	}
	// Both series exist from the start, so an alert on failures works
	// before the first failure and rate() has a baseline.
	m.renewals.WithLabelValues("success")
	m.renewals.WithLabelValues("failure")
	for _, n := range names {
		if a, err := netip.ParseAddr(n); err == nil {
			m.ips[a] = n
		}
	}

	if mode == ModeFiles {
		if err := m.initFiles(cfg); err != nil {
			return nil, err
		}
		m.ctx, m.cancel = context.WithCancel(context.Background())
		return m, nil
	}

	if cfg.DataDir == "" {
		return nil, fmt.Errorf("certs: data-dir: required in %s mode", mode)
	}
	tlsDir := filepath.Join(cfg.DataDir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, fmt.Errorf("certs: data-dir %s: %w", tlsDir, pathErr(err))
	}
	var acmeTmpl *certmagic.ACMEIssuer
	switch mode {
	case ModeInternal:
		ca, err := loadOrCreateCA(filepath.Join(tlsDir, "ca"), now, log)
		if err != nil {
			return nil, err
		}
		ca.allowed = make(map[string]bool, len(names))
		for _, n := range names {
			ca.allowed[n] = true
		}
		m.ca = ca
	case ModeACME:
		if acmeTmpl, err = acmeTemplate(cfg, names); err != nil {
			return nil, err
		}
	}

	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.initMagic(filepath.Join(tlsDir, "certmagic"), acmeTmpl)
	return m, nil
}

func (m *Manager) initFiles(cfg Config) error {
	if cfg.CertFile == "" {
		return errors.New("certs: cert-file: required in files mode")
	}
	if cfg.KeyFile == "" {
		return errors.New("certs: key-file: required in files mode")
	}
	m.files = &fileCert{certPath: cfg.CertFile, keyPath: cfg.KeyFile}
	sig, err := m.files.load()
	if err != nil {
		return err
	}
	m.filesSig = sig
	m.reloadInterval = cfg.ReloadInterval
	if m.reloadInterval <= 0 {
		m.reloadInterval = defaultReloadInterval
	}
	leaf := m.files.cur.Load().Leaf
	if time.Now().After(leaf.NotAfter) {
		// Serve it anyway: an expired certificate gives the browser's
		// clear warning, no certificate gives a connection error.
		m.log.Warn("certs: certificate from cert-file has expired", "path", cfg.CertFile, "not_after", leaf.NotAfter)
	}
	if len(m.names) > 0 {
		if err := leaf.VerifyHostname(m.names[0]); err != nil {
			m.log.Warn("certs: certificate from cert-file does not cover the primary name", "path", cfg.CertFile, "name", m.names[0])
		}
	}
	return nil
}

// acmeTemplate validates the ACME settings and turns them into the template
// for certmagic.NewACMEIssuer.
func acmeTemplate(cfg Config, names []string) (*certmagic.ACMEIssuer, error) {
	ca := cfg.ACMECA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	u, err := url.Parse(ca)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("certs: acme-ca %q: want an https:// ACME directory URL", ca)
	}
	if cfg.ACMEEmail != "" && !strings.Contains(cfg.ACMEEmail, "@") {
		// The address itself stays out of the message: errors get logged.
		return nil, errors.New("certs: acme-email: not an e-mail address")
	}
	if strings.Contains(u.Host, "api.letsencrypt.org") {
		for _, n := range names {
			if !certmagic.SubjectQualifiesForPublicCert(n) {
				return nil, fmt.Errorf("certs: names: %q cannot get a public certificate (a LAN name or address); use internal mode for it", n)
			}
		}
	}
	if cfg.HTTPPort < 0 || cfg.HTTPPort > 65535 {
		return nil, fmt.Errorf("certs: http-port %d: out of range", cfg.HTTPPort)
	}
	if cfg.HTTPSPort < 0 || cfg.HTTPSPort > 65535 {
		return nil, fmt.Errorf("certs: https-port %d: out of range", cfg.HTTPSPort)
	}
	if cfg.DNSProvider == nil && cfg.DisableHTTPChallenge && cfg.DisableTLSALPNChallenge {
		return nil, errors.New("certs: acme: both HTTP-01 and TLS-ALPN-01 disabled and no dns-provider")
	}
	t := &certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   cfg.ACMEEmail,
		Agreed:                  true,
		DisableHTTPChallenge:    cfg.DisableHTTPChallenge,
		DisableTLSALPNChallenge: cfg.DisableTLSALPNChallenge,
		AltHTTPPort:             cfg.HTTPPort,
		AltTLSALPNPort:          cfg.HTTPSPort,
	}
	if cfg.ACMECARoot != "" {
		pemBytes, err := os.ReadFile(cfg.ACMECARoot)
		if err != nil {
			return nil, fmt.Errorf("certs: acme-ca-root %s: %w", cfg.ACMECARoot, pathErr(err))
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemBytes) {
			return nil, fmt.Errorf("certs: acme-ca-root %s: no PEM certificate found", cfg.ACMECARoot)
		}
		t.TrustedRoots = pool
	}
	if cfg.DNSProvider != nil {
		if p, ok := cfg.DNSProvider.(*RFC2136); ok {
			for _, n := range names {
				if !p.Covers(n) {
					return nil, fmt.Errorf("certs: names: %q is outside acme-dns-zone %s, so its DNS-01 challenge cannot be answered", n, p.Zone())
				}
			}
		}
		t.DNS01Solver = &certmagic.DNS01Solver{DNSManager: certmagic.DNSManager{
			DNSProvider: cfg.DNSProvider,
			Resolvers:   cfg.DNSResolvers,
		}}
	}
	return t, nil
}

// initMagic builds a CertMagic cache and configs of our own: never the
// package-level Default, so that several Managers (tests, or a future
// second listener) can run side by side.
func (m *Manager) initMagic(storageDir string, acmeTmpl *certmagic.ACMEIssuer) {
	zl := newZapLogger(m.log)
	var magic *certmagic.Config
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		// Renewals run with the managing config, which has no on-demand
		// settings: CertMagic's background maintenance skips on-demand
		// configs, and an idle box would otherwise let its 7-day leaves
		// run out between handshakes.
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return magic, nil },
		Logger:           zl,
	})
	base := certmagic.Config{
		Storage: &certmagic.FileStorage{Path: storageDir},
		Logger:  zl,
		OnEvent: m.onEvent,
		// Spares building the per-handshake event that nobody here reads.
		ShouldEmitFunc: func(event string) bool {
			switch event {
			case "cert_obtained", "cert_failed", "cached_managed_cert":
				return true
			}
			return false
		},
	}
	switch m.mode {
	case ModeInternal:
		base.Issuers = []certmagic.Issuer{m.ca}
		base.DisableARI = true                                  // there is no ACME server to ask
		base.OCSP = certmagic.OCSPConfig{DisableStapling: true} // nor an OCSP responder
		magic = certmagic.New(m.cache, base)
		// Handshakes may issue on demand, for a client that arrives before
		// Manage or after a name's certificate was lost, but only for the
		// configured names; the local CA checks again when it signs.
		hs := base
		hs.OnDemand = &certmagic.OnDemandConfig{DecisionFunc: m.decide}
		m.handshake = certmagic.New(m.cache, hs)
	case ModeACME:
		// No on-demand here: a failing name would start an ACME order at
		// every handshake and hit the CA's rate limits. CertMagic retries
		// in the background with backoff instead.
		magic = certmagic.New(m.cache, base)
		acmeTmpl.Logger = zl
		if s, ok := acmeTmpl.DNS01Solver.(*certmagic.DNS01Solver); ok {
			s.Logger = zl
		}
		m.acme = certmagic.NewACMEIssuer(magic, *acmeTmpl)
		magic.Issuers = []certmagic.Issuer{m.acme}
		m.handshake = magic
	}
	m.magic = magic
}

// decide is the on-demand DecisionFunc: only the box's own names.
func (m *Manager) decide(_ context.Context, name string) error {
	if m.ca.allowed[canonical(name)] {
		return nil
	}
	return fmt.Errorf("certs: %q is not one of the box's names", name)
}

// onEvent turns CertMagic's events into metrics, log lines and the
// wake-ups that Manage waits for. CertMagic calls it synchronously.
func (m *Manager) onEvent(_ context.Context, event string, data map[string]any) error {
	name, _ := data["identifier"].(string)
	renewal, _ := data["renewal"].(bool)
	switch event {
	case "cert_obtained":
		m.renewals.WithLabelValues("success").Inc()
		m.log.Info("certs: certificate obtained", "name", name, "renewal", renewal, "issuer", data["issuer"])
	case "cert_failed":
		err, _ := data["error"].(error)
		if err == nil {
			err = errors.New("unknown error")
		}
		m.renewals.WithLabelValues("failure").Inc()
		m.log.Warn("certs: obtaining certificate failed", "name", name, "renewal", renewal, "err", scrubEmails(err.Error()))
		m.mu.Lock()
		m.failures++
		m.lastErr = scrubbedError{msg: scrubEmails(name + ": " + err.Error()), err: err}
		m.mu.Unlock()
	case "cached_managed_cert":
	default:
		return nil
	}
	m.notify()
	return nil
}

// scrubbedError keeps an ACME failure inspectable (errors.As finds the
// ACME problem) while its message, which callers show on /readyz and in the
// admin UI, no longer carries the account's e-mail address.
type scrubbedError struct {
	msg string
	err error
}

func (e scrubbedError) Error() string { return e.msg }
func (e scrubbedError) Unwrap() error { return e.err }

func (m *Manager) notify() {
	m.mu.Lock()
	close(m.changed)
	m.changed = make(chan struct{})
	m.mu.Unlock()
}

// reportReload is files mode's counterpart of onEvent.
func (m *Manager) reportReload(tc *tls.Certificate, err error) {
	if err != nil {
		m.renewals.WithLabelValues("failure").Inc()
		m.log.Warn("certs: reloading certificate failed; still serving the previous one", "err", err)
		m.mu.Lock()
		m.failures++
		m.lastErr = err
		m.mu.Unlock()
	} else {
		m.renewals.WithLabelValues("success").Inc()
		m.log.Info("certs: reloaded certificate", "path", m.files.certPath, "not_after", tc.Leaf.NotAfter)
		m.mu.Lock()
		m.lastErr = nil
		m.mu.Unlock()
	}
	m.notify()
}

// TLSConfig returns a new tls.Config for the HTTPS listener: TLS 1.2 or
// newer, forward-secret AEAD suites only, HTTP/2. In acme mode it also
// answers TLS-ALPN-01 challenges, so the listener needs nothing else.
func (m *Manager) TLSConfig() *tls.Config {
	protos := []string{"h2", "http/1.1"}
	if m.mode == ModeACME {
		protos = append(protos, "acme-tls/1")
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Applies to TLS 1.2 only; TLS 1.3 suites are all AEAD already.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos:     protos,
		GetCertificate: m.getCertificate,
	}
}

func (m *Manager) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if m.files != nil {
		if c := m.files.cur.Load(); c != nil {
			return c, nil
		}
		return nil, errNoFileCert
	}
	if hello.ServerName == "" {
		// Browsers send no SNI for https://192.168.1.10/. Answer with the
		// certificate for the address the client dialled if it is one of
		// ours, else the primary name's. CertMagic would try the local
		// address too, but without unmapping ::ffff:a.b.c.d (what a
		// dual-stack listener reports for IPv4 clients), and its
		// on-demand path would read storage at every such handshake.
		// The copy keeps the handshake's context.
		h := *hello
		h.ServerName = m.nameForConn(hello.Conn)
		hello = &h
	}
	return m.handshake.GetCertificate(hello)
}

func (m *Manager) nameForConn(c net.Conn) string {
	if c != nil {
		if ta, ok := c.LocalAddr().(*net.TCPAddr); ok {
			if n, ok := m.ips[ta.AddrPort().Addr().WithZone("").Unmap()]; ok {
				return n
			}
		}
	}
	return m.names[0]
}

// HTTPChallengeHandler answers ACME HTTP-01 challenges
// (/.well-known/acme-challenge/…) in acme mode and passes every other
// request to next. Mount it as the whole handler of the plain-HTTP port.
func (m *Manager) HTTPChallengeHandler(next http.Handler) http.Handler {
	if m.acme == nil {
		return next
	}
	return m.acme.HTTPChallengeHandler(next)
}

// RootCertPEM is the local CA's root in internal mode, for devices to
// install; nil in the other modes.
func (m *Manager) RootCertPEM() []byte {
	if m.ca == nil {
		return nil
	}
	return bytes.Clone(m.ca.certPEM)
}

// RootFingerprint is the SHA-256 fingerprint of the local root as
// certificate viewers show it ("AB:CD:…"), so that a person installing it
// can compare; empty outside internal mode.
func (m *Manager) RootFingerprint() string {
	if m.ca == nil {
		return ""
	}
	sum := sha256.Sum256(m.ca.cert.Raw)
	var b strings.Builder
	for i, c := range sum {
		if i > 0 {
			b.WriteByte(':')
		}
		fmt.Fprintf(&b, "%02X", c)
	}
	return b.String()
}

// Ready returns nil once a valid certificate for the primary name is in
// service; otherwise an error that says why, with the last failure.
func (m *Manager) Ready(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("certs: %w", err)
	}
	var leaf *x509.Certificate
	name := ""
	if len(m.names) > 0 {
		name = m.names[0]
	}
	if m.files != nil {
		leaf = m.files.cur.Load().Leaf
		if name != "" && leaf.VerifyHostname(name) != nil {
			return fmt.Errorf("certs: certificate from cert-file %s does not cover %q", m.files.certPath, name)
		}
	} else {
		leaf = m.newestLeaf(name)
	}
	if leaf == nil || time.Now().After(leaf.NotAfter) {
		m.mu.Lock()
		last := m.lastErr
		m.mu.Unlock()
		msg := fmt.Sprintf("certs: no valid certificate for %q yet", name)
		if leaf != nil {
			msg = fmt.Sprintf("certs: certificate for %q expired at %s", name, leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		if last != nil {
			return fmt.Errorf("%s; last attempt: %w", msg, last)
		}
		return errors.New(msg)
	}
	return nil
}

// newestLeaf is the longest-valid cached certificate for name, or nil.
func (m *Manager) newestLeaf(name string) *x509.Certificate {
	var best *x509.Certificate
	for _, c := range m.cache.AllMatchingCertificates(name) {
		if c.Leaf != nil && (best == nil || c.Leaf.NotAfter.After(best.NotAfter)) {
			best = c.Leaf
		}
	}
	return best
}

// earliestExpiry is when the first name loses its certificate; zero if a
// name has none.
func (m *Manager) earliestExpiry() time.Time {
	if m.files != nil {
		return m.files.cur.Load().Leaf.NotAfter
	}
	var first time.Time
	for _, n := range m.names {
		leaf := m.newestLeaf(n)
		if leaf == nil {
			return time.Time{}
		}
		if first.IsZero() || leaf.NotAfter.Before(first) {
			first = leaf.NotAfter
		}
	}
	return first
}

// Manage puts the certificates in place and keeps them there. Internal
// mode issues (or loads) a certificate for every name and returns. Acme
// mode starts obtaining them and returns once all are in place, or at the
// first failure, or when ctx ends; CertMagic keeps retrying with backoff in
// the background either way, and Ready reports when it succeeded. Files
// mode starts polling the files. Call it once the web server's listeners
// are open; calling it again is harmless.
func (m *Manager) Manage(ctx context.Context) error {
	if m.ctx.Err() != nil {
		return errors.New("certs: manager is closed")
	}
	switch m.mode {
	case ModeFiles:
		m.startOnce.Do(func() {
			m.wg.Add(1)
			go func() {
				defer m.wg.Done()
				m.files.watch(m.ctx, m.reloadInterval, m.filesSig, m.reportReload)
			}()
		})
		return nil
	case ModeInternal:
		if err := m.magic.ManageSync(ctx, m.names); err != nil {
			return fmt.Errorf("certs: issuing local certificates: %w", err)
		}
		return nil
	}

	m.mu.Lock()
	failuresBefore := m.failures
	m.mu.Unlock()
	// Asynchronous management is also the non-interactive one: the
	// synchronous path would prompt on stdin for an e-mail address when
	// none is configured.
	m.startOnce.Do(func() { m.startErr = m.magic.ManageAsync(m.ctx, m.names) })
	if m.startErr != nil {
		return fmt.Errorf("certs: %w", m.startErr)
	}
	for {
		m.mu.Lock()
		changed, failures, last := m.changed, m.failures, m.lastErr
		m.mu.Unlock()
		if m.allValid() {
			return nil
		}
		if failures > failuresBefore {
			return fmt.Errorf("certs: obtaining certificate (retrying in the background): %w", last)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("certs: waiting for certificates: %w", ctx.Err())
		case <-m.ctx.Done():
			return errors.New("certs: manager is closed")
		}
	}
}

func (m *Manager) allValid() bool {
	now := time.Now()
	for _, n := range m.names {
		if leaf := m.newestLeaf(n); leaf == nil || now.After(leaf.NotAfter) {
			return false
		}
	}
	return true
}

// Close stops renewals and file polling. It waits for them at most
// closeTimeout, so shutdown cannot hang on an ACME server.
func (m *Manager) Close() error {
	m.closeOnce.Do(func() {
		m.cancel()
		done := make(chan struct{})
		go func() {
			m.wg.Wait()
			if m.cache != nil {
				m.cache.Stop()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(closeTimeout):
			m.closeErr = fmt.Errorf("certs: close: certificate maintenance still running after %s", closeTimeout)
		}
	})
	return m.closeErr
}

// canonical is the form names are compared in: lower case, and IP
// addresses as netip prints them (so "::ffff:10.0.0.1" is "10.0.0.1").
func canonical(name string) string {
	name = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(name), "."))
	if a, err := netip.ParseAddr(name); err == nil && a.Zone() == "" {
		return a.Unmap().String()
	}
	return name
}

// normalizeNames canonicalises and checks the configured names, dropping
// duplicates but keeping the order (the first is the primary name).
func normalizeNames(in []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool, len(in))
	for _, raw := range in {
		n := canonical(raw)
		if _, err := netip.ParseAddr(n); err != nil && !validHostname(n) {
			return nil, fmt.Errorf("certs: names: %q is not a host name or IP address", raw)
		}
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out, nil
}

// validHostname accepts LDH host names (RFC 1123), which is what may go in
// a certificate; wildcards are not offered, HTTP-01 could not prove them.
func validHostname(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
