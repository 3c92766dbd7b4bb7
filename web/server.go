// Package web is the box's HTTP side: the HTTPS server that carries the UI
// and the API, the plain-HTTP server (redirects, ACME HTTP-01, the local
// CA root) and the metrics listener.
//
//	:8080 HTTP  ── /ca.crt, /ca, /healthz, /.well-known/acme-challenge/ ── else 308 → HTTPS
//	:8443 HTTPS ── middleware (recover, headers, metrics, request log, language)
//	               └── ServeMux: pages, /static/, /healthz, /readyz, (API)
//	127.0.0.1:9464 ── /metrics (bearer token when configured)
//
// Domain packages never import web; the appliance hands web what it needs
// through Options.
package web

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/eid"
	"clinicbox/appliance/identity/throttle"
	"clinicbox/appliance/presence"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/privacy/retention"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
	"clinicbox/web/i18n"
	"clinicbox/web/ui"
)

// Certs is what the web layer needs from the certificate manager
// (clinicbox/web/certs).
type Certs interface {
	TLSConfig() *tls.Config
	HTTPChallengeHandler(next http.Handler) http.Handler
	RootCertPEM() []byte
	RootFingerprint() string
}

// Options configure a Server.
type Options struct {
	Logger  *slog.Logger
	Certs   Certs
	Metrics prometheus.Registerer
	// Ready reports why the box cannot serve yet (nil when it can). Used by
	// /readyz and the landing page.
	Ready func(ctx context.Context) error
	// Version is shown in the footer and nowhere sensitive.
	Version string
	// HTTPSPort is the port redirects point to ("" or "443" leaves it out).
	HTTPSPort string
	// ShutdownTimeout bounds how long in-flight requests may run at
	// shutdown.
	ShutdownTimeout time.Duration
	// Identity holds users and sessions; nil serves only public pages.
	Identity *identity.Store
	// Keys seals short-lived secrets in forms (second-factor enrolment).
	Keys identity.Sealer
	// Rooms, their files and the upload limit; nil Rooms serves no rooms.
	Rooms     *rooms.Store
	Files     *attachments.Store
	MaxUpload int64
	// Notify tells a member that something waits in a room (kind
	// "message" or "call"); the notifier skips those who are online and
	// debounces. NotifyRead says the member has seen the room. Nil: none.
	Notify     func(ctx context.Context, userID, roomID uint64, kind string, status presence.Status)
	NotifyRead func(userID, roomID uint64)
	// Export streams a user's data as a ZIP (GDPR art. 15/20); Erase
	// deletes a user's account (art. 17). Nil: the pages say not yet.
	Export func(ctx context.Context, w io.Writer, userID uint64) error
	Erase  func(userID uint64) error
	// Errors records a technical error: a code and an internal user id
	// (0 when nobody is logged in). Nil: only the process log.
	Errors func(code string, userID uint64)
	// Retention runs the retention rules (admin page); nil: no page.
	Retention *retention.Engine
	// SystemFacts describe the box's health for the technician's page.
	SystemFacts func(context.Context) []SystemFact
	// Throttle limits login attempts; nil uses the defaults.
	Throttle *throttle.Limiter
	// Hostnames are the names (and addresses) the box serves. Passkeys
	// are offered only at one of its DNS names (any, when empty).
	Hostnames []string
	// EID logs people in with BankID / Freja eID through a broker; nil
	// means eID login is off (no button, /login/eid answers 404).
	EID *eid.Client
	// Audit is the patient-data access log: the admin's review screen,
	// a client's own view, and where reading it is itself logged. Nil
	// makes those pages say the log is not available.
	Audit *auditlog.Log
}

// Server serves HTTPS and HTTP.
type Server struct {
	opts      Options
	log       *slog.Logger
	catalogs  *i18n.Catalogs
	pages     map[string]*template.Template
	mux       *http.ServeMux
	handler   http.Handler
	metrics   *httpMetrics
	baseCtx   context.Context
	cancelCtx context.CancelFunc
	servers   []*http.Server

	throttle   *throttle.Limiter
	registered []routeInfo
	firstRun   firstRun
	presence   *presence.Hub
}

// New builds the server and its routes; nothing listens until Serve.
func New(opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = 10 * time.Second
	}
	if opts.Ready == nil {
		opts.Ready = func(context.Context) error { return nil }
	}
	catalogs, err := i18n.Load(ui.Files, "i18n")
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	pages, err := parsePages()
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if opts.Throttle == nil {
		opts.Throttle = throttle.New(throttle.DefaultConfig())
	}
	s := &Server{
		presence: presence.New(),
		throttle: opts.Throttle,
		opts:     opts,
		log:      opts.Logger.With("subsystem", "web"),
		catalogs: catalogs,
		pages:    pages,
		mux:      http.NewServeMux(),
	}
	s.metrics, err = newHTTPMetrics(opts.Metrics)
	if err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	// Long-lived connections (WebSockets, later) hang off this context, so
	// Shutdown can end them instead of waiting for them.
	s.baseCtx, s.cancelCtx = context.WithCancel(context.Background())
	s.routes()
	if opts.Identity != nil {
		s.startFirstRun()
	}
	// Cross-origin protection (Sec-Fetch-Site / Origin) refuses every
	// state-changing request that a browser sends from another site: the
	// CSRF defence for every form, logged in or not.
	s.handler = s.middleware(http.NewCrossOriginProtection().Handler(s.mux), true)
	return s, nil
}

func (s *Server) routes() {
	static, _ := fs.Sub(ui.Files, "static")
	s.route("GET /static/", Public, http.StripPrefix("/static/", staticHandler(static)).ServeHTTP)
	s.route("GET /healthz", Public, s.healthz)
	s.route("GET /readyz", Public, s.readyz)
	s.route("GET /ca.crt", Public, s.caCert)
	s.route("GET /ca", Public, s.caPage)
	s.route("GET /{$}", Public, s.home)
	s.route("/", Public, s.notFound)
	if s.opts.Identity != nil {
		s.authRoutes()
		s.passkeyRoutes()
		s.eidRoutes()
		s.adminRoutes()
		s.inviteRoutes()
		s.termsRoutes()
		s.accountRoutes()
		s.firstRunRoutes()
		s.liveRoutes()
		s.contactRoutes()
		s.myDataRoutes()
		if s.opts.Retention != nil {
			s.retentionRoutes()
		}
		s.systemRoutes()
		if s.opts.Rooms != nil {
			s.roomRoutes()
		}
		s.auditRoutes()
		s.unitRoutes()
	}
}

// Handle adds a route with its access rule to the HTTPS server. Later
// capabilities (rooms, …) register their routes through it.
func (s *Server) Handle(pattern string, access Access, h http.Handler) {
	s.route(pattern, access, h.ServeHTTP)
}

// Handler is the HTTPS handler with all middleware.
func (s *Server) Handler() http.Handler { return s.handler }

// HTTPHandler is the plain-HTTP handler: ACME challenges, the CA root and
// its install page, health, and a redirect to HTTPS for everything else.
// Nothing carrying personal data is ever served over plain HTTP.
func (s *Server) HTTPHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ca.crt", s.caCert)
	mux.HandleFunc("GET /ca", s.caPage)
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("/", s.redirectToHTTPS)
	var h http.Handler = mux
	if s.opts.Certs != nil {
		h = s.opts.Certs.HTTPChallengeHandler(h)
	}
	return s.middleware(h, false)
}

func (s *Server) redirectToHTTPS(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "" {
		http.Error(w, "Use HTTPS.", http.StatusBadRequest)
		return
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		host = "[" + host + "]"
	}
	if p := s.opts.HTTPSPort; p != "" && p != "443" {
		host += ":" + p
	}
	target := "https://" + host + r.URL.RequestURI()
	// 308 keeps the method, so a form posted to http:// is not silently
	// turned into a GET.
	http.Redirect(w, r, target, http.StatusPermanentRedirect)
}

// Serve runs the HTTPS server on httpsLn and the HTTP server on httpLn
// (either may be nil) until ctx is done, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, httpsLn, httpLn net.Listener) error {
	errc := make(chan error, 2)
	start := func(srv *http.Server, ln net.Listener, useTLS bool) {
		s.servers = append(s.servers, srv)
		go func() {
			var err error
			if useTLS {
				err = srv.ServeTLS(ln, "", "")
			} else {
				err = srv.Serve(ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("web: serving %s: %w", ln.Addr(), err)
			}
		}()
	}
	if httpsLn != nil {
		srv := s.newHTTPServer(s.handler)
		if s.opts.Certs != nil {
			srv.TLSConfig = s.opts.Certs.TLSConfig()
		}
		start(srv, httpsLn, true)
	}
	if httpLn != nil {
		start(s.newHTTPServer(s.HTTPHandler()), httpLn, false)
	}
	select {
	case <-ctx.Done():
		return s.shutdown()
	case err := <-errc:
		s.shutdown()
		return err
	}
}

func (s *Server) newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		BaseContext:       func(net.Listener) context.Context { return s.baseCtx },
		// TLS handshake errors from scanners and browsers that do not yet
		// trust the CA would flood the log; they are counted instead.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

// shutdown cancels long-lived connections first, then gives in-flight
// requests up to ShutdownTimeout.
func (s *Server) shutdown() error {
	s.cancelCtx()
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.ShutdownTimeout)
	defer cancel()
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("web: shutdown: %w", errors.Join(errs...))
	}
	return nil
}

// ListenError explains a failed listen in words an office manager can act
// on, naming the address.
func ListenError(what, addr string, err error) error {
	hint := ""
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		hint = " (another program, or another clinicbox, already uses this port)"
	case errors.Is(err, syscall.EACCES):
		hint = " (ports below 1024 need root or systemd socket activation)"
	}
	return fmt.Errorf("cannot listen on %s for %s: %w%s", addr, what, unwrapOpError(err), hint)
}

func unwrapOpError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		var se interface{ Unwrap() error }
		if errors.As(op.Err, &se) {
			return se.Unwrap()
		}
		return op.Err
	}
	return err
}

// PortOf returns the port of a listen address, for redirects.
func PortOf(addr string) string {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if _, err := strconv.Atoi(port); err != nil {
		return ""
	}
	return port
}
