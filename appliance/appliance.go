// Package appliance is the composition root: it is the only package that
// knows every other one. New wires storage, certificates, the web server,
// the TURN port and metrics from a validated config; Run runs them until
// the context ends.
//
//	config ──► New ──► data dir ─► storage (bbolt)
//	                 ├─► certs (internal CA | ACME | files)
//	                 ├─► web (HTTPS, HTTP, metrics listeners)
//	                 ├─► media (TURN port)
//	                 └─► systemd (READY, STATUS, WATCHDOG, socket activation)
package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.etcd.io/bbolt"

	"clinicbox/appliance/config"
	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/eid"
	"clinicbox/appliance/notify"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/privacy/errorlog"
	"clinicbox/appliance/privacy/retention"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
	"clinicbox/appliance/version"
	"clinicbox/media"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
	"clinicbox/systemd"
	"clinicbox/web"
	"clinicbox/web/certs"
)

// DatabaseFile is the bbolt file's name inside the data dir.
const DatabaseFile = "clinicbox.db"

// Appliance is one running box.
type Appliance struct {
	cfg      config.Config
	log      *slog.Logger
	registry *prometheus.Registry
	notifier *systemd.Notifier

	db       *storage.DB
	keys     *keystore.Store
	identity *identity.Store
	eid      *eid.Client // nil when eID login is off
	audit    *auditlog.Log
	rooms    *rooms.Store
	files    *attachments.Store
	notify   *notify.Notifier
	retain   *retention.Engine
	errs     *errorlog.Log
	certs    *certs.Manager
	web      *web.Server
	turn     *media.Reservation
	httpsL   net.Listener
	httpL    net.Listener
	metrL    net.Listener

	closers []interface{ Close() error }
	started time.Time
}

// New prepares everything that can fail before the box reports ready: the
// data dir, the database, the certificates and every listener. On error
// nothing is left open.
func New(cfg config.Config, log *slog.Logger) (_ *Appliance, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if len(cfg.Hostnames) == 0 {
		cfg.Hostnames = config.DefaultHostnames()
	}
	cfg.DataDir = cfg.ResolvedDataDir()
	a := &Appliance{
		started:  time.Now(),
		cfg:      cfg,
		log:      log,
		registry: prometheus.NewRegistry(),
		notifier: systemd.NewNotifier(log),
	}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	a.notifier.Status("opening data dir %s", cfg.DataDir)
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}

	a.db, err = storage.Open(filepath.Join(cfg.DataDir, DatabaseFile), storage.Options{Logger: log})
	if err != nil {
		return nil, err
	}
	a.onClose(a.db)
	if err := a.openDomain(); err != nil {
		return nil, err
	}
	if err := a.openRooms(); err != nil {
		return nil, err
	}

	if err := a.listen(); err != nil {
		return nil, err
	}

	certsCfg := certs.Config{
		Mode:       certs.Mode(cfg.TLSMode),
		DataDir:    cfg.DataDir,
		Names:      cfg.Hostnames,
		ACMECA:     cfg.ACMECA,
		ACMEEmail:  cfg.ACMEEmail,
		ACMECARoot: cfg.ACMECARoot,
		CertFile:   cfg.CertFile,
		KeyFile:    cfg.KeyFile,
		HTTPPort:   portNumber(a.httpL.Addr()),
		HTTPSPort:  portNumber(a.httpsL.Addr()),
		Logger:     log,
	}
	if cfg.DNS01Enabled() && cfg.TLSMode == config.TLSACME {
		// DNS-01 through RFC 2136 updates: then only DNS-01, so the
		// router need not forward any port for the certificate.
		secret, err := cfg.DNS01TSIGSecret()
		if err != nil {
			return nil, err
		}
		p, err := certs.NewRFC2136(certs.RFC2136Config{
			Server: cfg.DNS01.Server, Zone: cfg.DNS01.Zone,
			TSIGKey: cfg.DNS01.TSIGKey, TSIGSecret: secret, TSIGAlgorithm: cfg.DNS01.TSIGAlgorithm,
		})
		if err != nil {
			return nil, err
		}
		certsCfg.DNSProvider = p
	}
	a.certs, err = certs.New(context.Background(), certsCfg)
	if err != nil {
		return nil, err
	}
	a.onClose(a.certs)

	if err := a.registerMetrics(); err != nil {
		return nil, err
	}

	if a.eid, err = a.newEID(); err != nil {
		return nil, err
	}

	// Redirects name the port really listened on, which under socket
	// activation is 443, not --https-addr.
	a.web, err = web.New(web.Options{
		Logger:          log,
		Certs:           a.certs,
		Metrics:         a.registry,
		Ready:           a.Ready,
		Version:         version.Get().Version,
		HTTPSPort:       web.PortOf(a.httpsL.Addr().String()),
		ShutdownTimeout: cfg.ShutdownTimeout,
		Identity:        a.identity,
		SystemFacts:     a.systemFacts,
		Rooms:           a.rooms,
		Files:           a.files,
		MaxUpload:       cfg.MaxUpload,
		Notify:          a.notifyMember,
		NotifyRead:      a.notify.MarkRead,
		Export:          a.exportUser,
		Erase:           a.eraseUser,
		Retention:       a.retain,
		Errors:          a.recordError,
		Keys:            a.keys,
		EID:             a.eid,
		Audit:           a.audit,
		Hostnames:       cfg.Hostnames,
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// openDomain opens the key store and the clinic's domain stores on top of
// the database.
func (a *Appliance) openDomain() error {
	d, err := OpenDomain(a.db, a.cfg.DataDir)
	if err != nil {
		return err
	}
	a.keys, a.identity, a.audit = d.Keys, d.Identity, d.Audit
	a.onClose(d.Keys)
	return nil
}

// openRooms opens rooms, the encrypted file store in <data>/files and the
// notifier.
func (a *Appliance) openRooms() (err error) {
	if a.rooms, err = rooms.New(rooms.Options{DB: a.db, Keys: a.keys, Audit: a.audit}); err != nil {
		return err
	}
	a.files, err = attachments.New(attachments.Options{Dir: filepath.Join(a.cfg.DataDir, "files"), Keys: a.keys, MaxBytes: a.cfg.MaxUpload})
	if err != nil {
		return err
	}
	if a.notify, err = newNotifier(&a.cfg, a); err != nil {
		return err
	}
	a.errs = errorlog.New(a.db, nil)
	a.retain, err = retention.New(retention.Options{DB: a.db, Rooms: a.rooms, Sessions: a.identity,
		Runners: map[string]retention.Runner{
			retention.ErrorLog: func(_ context.Context, c retention.Cutoff, dry bool) (int, error) { return a.errs.Prune(c.Global, dry) },
		},
		Accounts: retention.Accounts{Users: a.identity, Keys: a.keys}, Log: a.log,
		DeleteFiles: func(ids []string) {
			for _, id := range ids {
				if err := a.files.Delete(id); err != nil {
					a.log.Warn("retention: deleting a purged room's file", "err", err)
				}
			}
		}})
	if err != nil {
		return err
	}
	a.onClose(a.notify)
	return a.registry.Register(a.notify.Collector())
}

// Domain is the clinic's data on an open database: what `serve` and the
// admin commands (user add, audit verify) share.
type Domain struct {
	Keys     *keystore.Store
	Identity *identity.Store
	Audit    *auditlog.Log
}

// OpenDomain opens the key store in <data>/keys and the domain stores.
// The caller closes Keys.
func OpenDomain(db *storage.DB, dataDir string) (*Domain, error) {
	keys, err := keystore.Open(filepath.Join(dataDir, "keys"))
	if err != nil {
		return nil, err
	}
	indexKey, err := keys.DeriveKey("identity/email-index")
	if err == nil {
		var d Domain
		d.Keys = keys
		if d.Identity, err = identity.New(identity.Options{DB: db, Keys: keys, IndexKey: indexKey}); err == nil {
			if d.Audit, err = auditlog.New(db, db.BoxID()); err == nil {
				return &d, nil
			}
		}
	}
	keys.Close()
	return nil, err
}

func portNumber(addr net.Addr) int {
	if tcp, ok := addr.(*net.TCPAddr); ok {
		return tcp.Port
	}
	return 0
}

// prepareDataDir creates the data dir (owner only) and proves it is
// writable, so the error names the directory rather than some file in it.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data dir %s cannot be created: %w", dir, unwrapPath(err))
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", dir, unwrapPath(err))
	}
	probe.Close()
	return os.Remove(probe.Name())
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// listen takes listeners from systemd socket activation when present
// (names "http" and "https"), and binds the configured addresses
// otherwise.
func (a *Appliance) listen() error {
	activated, err := systemd.Listeners()
	if err != nil {
		return fmt.Errorf("socket activation: %w", err)
	}
	pick := func(name, what, addr string) (net.Listener, error) {
		if ls := activated[name]; len(ls) > 0 {
			a.log.Info("using socket-activated listener", "name", name, "addr", ls[0].Addr().String())
			a.onClose(ls[0])
			return ls[0], nil
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, web.ListenError(what, addr, err)
		}
		a.onClose(ln)
		return ln, nil
	}
	if a.httpsL, err = pick("https", "HTTPS", a.cfg.HTTPSAddr); err != nil {
		return err
	}
	if a.httpL, err = pick("http", "HTTP", a.cfg.HTTPAddr); err != nil {
		return err
	}
	if a.metrL, err = net.Listen("tcp", a.cfg.MetricsAddr); err != nil {
		return web.ListenError("metrics", a.cfg.MetricsAddr, err)
	}
	a.onClose(a.metrL)
	if a.turn, err = media.Reserve(a.cfg.TURNAddr); err != nil {
		return err
	}
	a.onClose(a.turn)
	return nil
}

func (a *Appliance) registerMetrics() error {
	info := version.Get()
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "clinicbox_build_info",
		Help: "Always 1; the labels tell which build runs.",
	}, []string{"version", "revision", "goversion"})
	buildInfo.WithLabelValues(info.Version, info.Commit, info.GoVersion).Set(1)
	ready := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "clinicbox_ready",
		Help: "1 when storage and certificates work (the same check as /readyz), else 0.",
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if a.Ready(ctx) != nil {
			return 0
		}
		return 1
	})
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		ready,
		a.db.Collector(),
		a.certs.Collector(),
	} {
		if err := a.registry.Register(c); err != nil {
			return fmt.Errorf("metrics: %w", err)
		}
	}
	return nil
}

// Ready reports why the box cannot serve clients, or nil.
func (a *Appliance) Ready(ctx context.Context) error {
	if err := a.db.View(func(*bbolt.Tx) error { return nil }); err != nil {
		return fmt.Errorf("storage: %w", err)
	}
	if err := a.certs.Ready(ctx); err != nil {
		return err
	}
	return nil
}

// Addrs are the bound addresses, for tests and the start-up log line.
type Addrs struct{ HTTPS, HTTP, Metrics, TURN string }

// Addrs returns where the box listens.
func (a *Appliance) Addrs() Addrs {
	return Addrs{
		HTTPS:   a.httpsL.Addr().String(),
		HTTP:    a.httpL.Addr().String(),
		Metrics: a.metrL.Addr().String(),
		TURN:    a.turn.UDP.LocalAddr().String(),
	}
}

// Run serves until ctx is done, then shuts down and closes everything.
// It tells systemd READY=1 once certificates are in place and every
// listener serves, and pings the watchdog only while Ready passes.
func (a *Appliance) Run(ctx context.Context) error {
	defer a.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	a.notifier.Status("obtaining certificates")
	if err := a.certs.Manage(ctx); err != nil {
		return err
	}

	// The web server and the metrics server report on channels of their
	// own: with one shared channel, a select could take web.Serve's nil
	// (sent after a cancel) for a failure and then wait for it forever.
	webDone := make(chan error, 1)
	go func() { webDone <- a.web.Serve(ctx, a.httpsL, a.httpL) }()
	metricsSrv := &http.Server{Handler: web.MetricsHandler(a.registry, a.cfg.MetricsToken), ReadHeaderTimeout: 10 * time.Second}
	metricsFailed := make(chan error, 1)
	go func() {
		if err := metricsSrv.Serve(a.metrL); err != nil && !errors.Is(err, http.ErrServerClosed) {
			metricsFailed <- fmt.Errorf("metrics: %w", err)
		}
	}()
	go a.notifier.RunWatchdog(ctx, a.Ready)
	go a.retain.RunDaily(ctx)
	go a.warmEID(ctx)

	addrs := a.Addrs()
	a.log.Info("clinicbox ready", "version", version.Get().Version, "data_dir", a.cfg.DataDir,
		"https", addrs.HTTPS, "http", addrs.HTTP, "metrics", addrs.Metrics, "turn", addrs.TURN,
		"tls_mode", a.cfg.TLSMode, "names", strings.Join(a.cfg.Hostnames, ","))
	a.notifier.Ready()
	a.notifier.Status("serving HTTPS on %s", addrs.HTTPS)

	var err error
	webStopped := false
	select {
	case <-ctx.Done():
	case err = <-webDone:
		webStopped = true
		a.log.Error("web server stopped", "err", err)
	case err = <-metricsFailed:
		a.log.Error("metrics server stopped", "err", err)
	}
	a.notifier.Stopping()
	a.log.Info("shutting down")
	cancel()
	shutdownCtx, stop := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer stop()
	metricsSrv.Shutdown(shutdownCtx)
	if !webStopped {
		// web.Serve returns after its graceful shutdown.
		if werr := <-webDone; err == nil {
			err = werr
		}
	}
	return err
}

// systemFacts are the technician's system page: health in plain words,
// no personal data.
func (a *Appliance) systemFacts(ctx context.Context) []web.SystemFact {
	info := version.Get()
	ready := web.SystemFact{Label: "system.ready", Value: "ok"}
	if err := a.Ready(ctx); err != nil {
		ready = web.SystemFact{Label: "system.ready", Value: err.Error(), Bad: true}
	}
	dbFact := web.SystemFact{Label: "system.database"}
	if st, err := os.Stat(a.db.Path()); err == nil {
		dbFact.Value = fmt.Sprintf("schema %d, %.1f MiB", a.db.SchemaVersion(), float64(st.Size())/(1<<20))
	}
	return append([]web.SystemFact{
		{Label: "system.version", Value: info.String()},
		ready,
		{Label: "system.uptime", Value: a.started.Format("2006-01-02 15:04 MST")},
		dbFact,
		{Label: "system.keys", Value: strconv.Itoa(a.keys.Subjects())},
		{Label: "system.tls", Value: a.cfg.TLSMode},
		{Label: "system.names", Value: strings.Join(a.cfg.Hostnames, ", ")},
	}, append(a.notifyFacts(), a.errorFacts()...)...)
}

// recordError writes the technical error log: a code and an internal
// user id, never anything personal.
func (a *Appliance) recordError(code string, userID uint64) {
	if err := a.errs.Record(code, userID); err != nil {
		a.log.Warn("error log", "err", err)
	}
}

// errorFacts are the latest errors for the system page.
func (a *Appliance) errorFacts() []web.SystemFact {
	recent, err := a.errs.Recent(10)
	if err != nil {
		return []web.SystemFact{{Label: "system.errors", Value: err.Error(), Bad: true}}
	}
	if len(recent) == 0 {
		return []web.SystemFact{{Label: "system.errors", Value: "–"}}
	}
	facts := make([]web.SystemFact, 0, len(recent))
	for _, e := range recent {
		v := e.Time.Format("2006-01-02 15:04") + " " + e.Code
		if e.UserID != 0 {
			v += " (user " + strconv.FormatUint(e.UserID, 10) + ")"
		}
		facts = append(facts, web.SystemFact{Label: "system.errors", Value: v, Bad: true})
	}
	return facts
}

// onClose registers cleanup for something New opened; close runs them in
// reverse order.
func (a *Appliance) onClose(c interface{ Close() error }) { a.closers = append(a.closers, c) }

func (a *Appliance) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i].Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			a.log.Warn("closing", "err", err)
		}
	}
	a.closers = nil
}
