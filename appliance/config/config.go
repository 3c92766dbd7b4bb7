// Package config turns command-line flags, CLINICBOX_* environment
// variables and an optional config file into one validated Config.
//
// Precedence, lowest first: embedded defaults, the config file, the
// environment, the command line. Every flag --some-name has the
// environment variable CLINICBOX_SOME_NAME and the config-file key
// some-name, so a setting is spelled the same way everywhere.
//
// Every error names the field it is about (a *FieldError), so the CLI can
// print "--https-addr: ..." and exit with code 2.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// TLS modes. Kept as plain strings here so that config does not import the
// web layer.
const (
	TLSInternal = "internal"
	TLSACME     = "acme"
	TLSFiles    = "files"
)

// Config is everything `clinicbox serve` needs to start.
type Config struct {
	DataDir     string
	HTTPSAddr   string
	HTTPAddr    string
	MetricsAddr string
	TURNAddr    string
	// Hostnames are the DNS names and IP addresses the box answers to and
	// its certificate covers. Empty means: computed at start from the
	// machine (see DefaultHostnames).
	Hostnames []string

	TLSMode    string
	ACMECA     string
	ACMEEmail  string
	ACMECARoot string
	CertFile   string
	KeyFile    string
	DNS01      DNS01 // ACME DNS-01 through RFC 2136 updates; see dns.go

	// MetricsToken, when set, is required as a bearer token on the metrics
	// listener. It must be set when the listener is reachable beyond
	// loopback.
	MetricsToken string

	LogFormat string // auto, text, json, journal
	LogLevel  string // debug, info, warn, error

	ShutdownTimeout time.Duration

	// eID login (BankID / Freja eID) through an OpenID Connect broker;
	// off while EIDIssuer is empty. See eid.go.
	EIDIssuer           string
	EIDClientID         string
	EIDClientSecretFile string
	EIDPnrClaim         string
	EIDNameClaim        string
	EIDScopes           string
	EIDCARoot           string

	// MaxUpload is the largest attachment accepted, in bytes.
	MaxUpload int64

	// Notifications by e-mail and SMS; see notify.go.
	Notify NotifySettings

	// ConfigFile is the file the settings were read from, if any.
	ConfigFile string
}

// Defaults returns the embedded defaults. The data dir follows systemd's
// StateDirectory= when that is set.
func Defaults(getenv func(string) string) Config {
	dataDir := "clinicbox-data"
	if d := getenv("STATE_DIRECTORY"); d != "" {
		// systemd may pass several colon-separated directories; the first
		// is ours.
		dataDir = strings.Split(d, ":")[0]
	}
	return Config{
		DataDir:         dataDir,
		HTTPSAddr:       ":8443",
		HTTPAddr:        ":8080",
		MetricsAddr:     "127.0.0.1:9464",
		TURNAddr:        ":3478",
		TLSMode:         TLSInternal,
		ACMECA:          "https://acme-v02.api.letsencrypt.org/directory",
		LogFormat:       "auto",
		LogLevel:        "info",
		ShutdownTimeout: 10 * time.Second,
		EIDPnrClaim:     DefaultEIDPnrClaim,
		EIDNameClaim:    "name",
		EIDScopes:       "openid profile",
		Notify:          DefaultNotifySettings(),
		MaxUpload:       25 << 20,
	}
}

// FieldError is a problem with one setting.
type FieldError struct {
	Field  string // flag name without dashes, e.g. "https-addr"
	Source string // where the value came from: "flag", "environment CLINICBOX_X", "config file F line N"
	Msg    string
}

func (e *FieldError) Error() string {
	if e.Source == "" || e.Source == "flag" {
		return fmt.Sprintf("--%s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("--%s (from %s): %s", e.Field, e.Source, e.Msg)
}

// ErrHelp is returned when the user asked for --help; usage has been
// written already.
var ErrHelp = flag.ErrHelp

// EnvName is the environment variable for a flag name.
func EnvName(flagName string) string {
	return "CLINICBOX_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Load parses args (without the program and subcommand names), the
// environment and the config file named by --config / CLINICBOX_CONFIG.
// Usage and errors from the flag package go to out.
func Load(args []string, getenv func(string) string, out io.Writer) (Config, error) {
	cfg := Defaults(getenv)
	fs := newFlagSet("serve", &cfg, out)
	// The flag package would print its own error and the whole usage on a
	// mistake; we print one line naming the flag instead, and the usage
	// only when asked for.
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(out)
			fs.Usage()
			return cfg, ErrHelp
		}
		return cfg, parseError(err)
	}
	if fs.NArg() > 0 {
		return cfg, &FieldError{Field: "serve", Msg: fmt.Sprintf("unexpected argument %q; settings are given as --name value", fs.Arg(0))}
	}
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })

	// The environment overrides the file, so it is applied first and the
	// file only fills what neither the command line nor the environment set.
	fromEnv := map[string]bool{}
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		v := getenv(EnvName(f.Name))
		if v == "" || onCommandLine[f.Name] || envErr != nil {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			envErr = &FieldError{Field: f.Name, Source: "environment " + EnvName(f.Name), Msg: err.Error()}
		}
		fromEnv[f.Name] = true
	})
	if envErr != nil {
		return cfg, envErr
	}

	if cfg.ConfigFile != "" {
		f, err := os.Open(cfg.ConfigFile)
		if err != nil {
			return cfg, &FieldError{Field: "config", Msg: fmt.Sprintf("cannot read %s: %v", cfg.ConfigFile, unwrapPathError(err))}
		}
		entries, err := ParseFile(f, cfg.ConfigFile)
		f.Close()
		if err != nil {
			return cfg, err
		}
		for _, e := range entries {
			source := fmt.Sprintf("config file %s line %d", cfg.ConfigFile, e.Line)
			fl := fs.Lookup(e.Key)
			if fl == nil || e.Key == "config" {
				return cfg, &FieldError{Field: e.Key, Source: source, Msg: "unknown setting; see clinicbox serve --help"}
			}
			if onCommandLine[e.Key] || fromEnv[e.Key] {
				continue
			}
			if err := fs.Set(e.Key, e.Value); err != nil {
				return cfg, &FieldError{Field: e.Key, Source: source, Msg: err.Error()}
			}
		}
	}
	return cfg, cfg.Validate()
}

// parseError rewrites the flag package's errors so they name the flag the
// same way ours do.
func parseError(err error) error {
	msg := err.Error()
	if rest, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		name := strings.TrimLeft(rest, "-")
		return &FieldError{Field: name, Msg: "unknown flag; 'clinicbox serve --help' lists them"}
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return &FieldError{Field: strings.TrimLeft(rest, "-"), Msg: "needs a value"}
	}
	// "invalid value "x" for flag -name: reason"
	if i := strings.Index(msg, " for flag -"); i >= 0 && strings.HasPrefix(msg, "invalid ") {
		rest := msg[i+len(" for flag -"):]
		name, reason, _ := strings.Cut(rest, ": ")
		return &FieldError{Field: strings.TrimLeft(name, "-"), Msg: reason}
	}
	return &FieldError{Field: "serve", Msg: msg}
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// newFlagSet declares every setting once; env and file reuse these names.
func newFlagSet(name string, cfg *Config, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.ConfigFile, "config", "", "read settings from `FILE` (lines of: name = value)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "`DIR` for the database, keys and certificates (default $STATE_DIRECTORY under systemd)")
	fs.Var(addrValue{&cfg.HTTPSAddr}, "https-addr", "HTTPS listen `ADDR` (host:port)")
	fs.Var(addrValue{&cfg.HTTPAddr}, "http-addr", "HTTP listen `ADDR`: redirects to HTTPS, ACME challenges, the local CA root")
	fs.Var(addrValue{&cfg.MetricsAddr}, "metrics-addr", "Prometheus metrics listen `ADDR`")
	fs.Var(addrValue{&cfg.TURNAddr}, "turn-addr", "TURN relay listen `ADDR` (UDP and TCP)")
	fs.Var(&listValue{list: &cfg.Hostnames}, "hostname", "DNS `NAME` or IP the box answers to; repeat or separate with commas (default: hostname, hostname.local, localhost and the LAN addresses)")
	fs.Var(choiceValue{&cfg.TLSMode, []string{TLSInternal, TLSACME, TLSFiles}}, "tls-mode", "where certificates come from: internal (the box's own CA), acme (public names, e.g. Let's Encrypt) or files")
	fs.StringVar(&cfg.ACMECA, "acme-ca", cfg.ACMECA, "ACME directory `URL` (tls-mode acme)")
	fs.StringVar(&cfg.ACMEEmail, "acme-email", "", "contact `EMAIL` for the ACME account (tls-mode acme)")
	fs.StringVar(&cfg.ACMECARoot, "acme-ca-root", "", "PEM `FILE` with the root of a private ACME server (tls-mode acme)")
	fs.StringVar(&cfg.CertFile, "cert-file", "", "certificate chain PEM `FILE` (tls-mode files)")
	fs.StringVar(&cfg.KeyFile, "key-file", "", "private key PEM `FILE` (tls-mode files)")
	fs.StringVar(&cfg.MetricsToken, "metrics-token", "", "bearer `TOKEN` required by the metrics listener (required when it is not on loopback)")
	fs.Var(choiceValue{&cfg.LogFormat, []string{"auto", "text", "json", "journal"}}, "log-format", "log format: auto (journal under systemd, else text), text, json or journal")
	fs.Var(choiceValue{&cfg.LogLevel, []string{"debug", "info", "warn", "error"}}, "log-level", "least important log level written: debug, info, warn or error")
	fs.Var(durationValue{&cfg.ShutdownTimeout}, "shutdown-timeout", "how long in-flight requests may take to finish at shutdown")
	fs.Var(sizeValue{&cfg.MaxUpload}, "max-upload", "largest attachment accepted, e.g. 25MB (at most 1GB)")
	addEIDFlags(fs, cfg)
	addNotifyFlags(fs, cfg)
	addDNS01Flags(fs, cfg)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: clinicbox serve [flags]\n\nRuns the appliance. Every flag can also be set as an environment variable\n(--data-dir is CLINICBOX_DATA_DIR) or in the --config file (data-dir = /var/lib/clinicbox).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

// Validate checks the settings that depend on each other.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.DataDir) == "" {
		return &FieldError{Field: "data-dir", Msg: "must not be empty"}
	}
	for _, h := range c.Hostnames {
		if err := checkHostname(h); err != nil {
			return &FieldError{Field: "hostname", Msg: err.Error()}
		}
	}
	switch c.TLSMode {
	case TLSACME:
		if len(c.Hostnames) == 0 {
			return &FieldError{Field: "hostname", Msg: "tls-mode acme needs the public name(s) of the box, e.g. --hostname box.example-clinic.se"}
		}
		for _, h := range c.Hostnames {
			if _, err := netip.ParseAddr(h); err == nil {
				return &FieldError{Field: "hostname", Msg: fmt.Sprintf("%s is an IP address; public ACME certificates need DNS names", h)}
			}
		}
		if !strings.HasPrefix(c.ACMECA, "https://") {
			return &FieldError{Field: "acme-ca", Msg: fmt.Sprintf("%q is not an https:// URL", c.ACMECA)}
		}
	case TLSFiles:
		if c.CertFile == "" {
			return &FieldError{Field: "cert-file", Msg: "tls-mode files needs --cert-file and --key-file"}
		}
		if c.KeyFile == "" {
			return &FieldError{Field: "key-file", Msg: "tls-mode files needs --cert-file and --key-file"}
		}
	}
	if c.MetricsToken == "" && !isLoopbackAddr(c.MetricsAddr) {
		return &FieldError{Field: "metrics-token", Msg: fmt.Sprintf("metrics on %s are reachable from the network; set a token (or bind to 127.0.0.1)", c.MetricsAddr)}
	}
	if c.ShutdownTimeout <= 0 {
		return &FieldError{Field: "shutdown-timeout", Msg: "must be positive"}
	}
	if err := c.validateDNS01(); err != nil {
		return err
	}
	if err := c.validateNotify(); err != nil {
		return err
	}
	return c.validateEID()
}

func isLoopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkHostname accepts IP addresses and RFC 1123 host names.
func checkHostname(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if len(h) == 0 || len(h) > 253 {
		return fmt.Errorf("%q is not a host name or IP address", h)
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("%q is not a host name or IP address", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("%q is not a host name or IP address (letters, digits, '-' and '.' only)", h)
			}
		}
	}
	return nil
}

// DefaultHostnames is what the certificate covers when --hostname is not
// given: the machine's name, name.local (mDNS), localhost and every
// non-loopback unicast address, so that staff can reach the box by IP too.
func DefaultHostnames() []string {
	seen := map[string]bool{}
	var names []string
	add := func(n string) {
		if n != "" && !seen[n] && checkHostname(n) == nil {
			seen[n] = true
			names = append(names, n)
		}
	}
	if h, err := os.Hostname(); err == nil {
		h = strings.ToLower(h)
		add(h)
		if !strings.Contains(h, ".") {
			add(h + ".local")
		}
	}
	add("localhost")
	add("127.0.0.1")
	add("::1")
	var ips []string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			p, err := netip.ParsePrefix(a.String())
			if err != nil {
				continue
			}
			ip := p.Addr()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified() {
				continue
			}
			ips = append(ips, ip.String())
		}
	}
	sort.Strings(ips)
	for _, ip := range ips {
		add(ip)
	}
	return names
}

// ResolvedDataDir is DataDir made absolute, so that log lines and error
// messages name the real place.
func (c *Config) ResolvedDataDir() string {
	if abs, err := filepath.Abs(c.DataDir); err == nil {
		return abs
	}
	return c.DataDir
}

// sizeValue is a size in bytes written as 25MB, 500kB or 1048576.
type sizeValue struct{ p *int64 }

func (v sizeValue) String() string {
	if v.p == nil {
		return ""
	}
	if *v.p%(1<<20) == 0 {
		return strconv.FormatInt(*v.p>>20, 10) + "MB"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v sizeValue) Set(s string) error {
	t := strings.ToUpper(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n <= 0 || n > (1<<30)/mult {
		return fmt.Errorf("%q is not a size from 1B to 1GB, e.g. 25MB", s)
	}
	*v.p = n * mult
	return nil
}

// addrValue accepts host:port with a numeric port.
type addrValue struct{ p *string }

func (a addrValue) String() string {
	if a.p == nil {
		return ""
	}
	return *a.p
}

func (a addrValue) Set(s string) error {
	if err := CheckListenAddr(s); err != nil {
		return err
	}
	*a.p = s
	return nil
}

// CheckListenAddr explains what is wrong with a listen address.
func CheckListenAddr(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not a listen address; use host:port, e.g. :8443 or 192.168.1.10:8443", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port; the port is a number from 0 to 65535", s)
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("%q: listen on an IP address (or leave the host empty for all addresses), not %q", s, host)
		}
	}
	return nil
}

type choiceValue struct {
	p       *string
	choices []string
}

func (c choiceValue) String() string {
	if c.p == nil {
		return ""
	}
	return *c.p
}

func (c choiceValue) Set(s string) error {
	for _, ch := range c.choices {
		if s == ch {
			*c.p = s
			return nil
		}
	}
	return fmt.Errorf("%q is not one of: %s", s, strings.Join(c.choices, ", "))
}

type durationValue struct{ p *time.Duration }

func (d durationValue) String() string {
	if d.p == nil {
		return ""
	}
	return d.p.String()
}

func (d durationValue) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration; use e.g. 10s or 1m30s", s)
	}
	*d.p = v
	return nil
}

// listValue is a repeatable, comma-separable flag. The first Set replaces
// the default instead of appending to it.
type listValue struct {
	list *[]string
	set  bool
}

func (l *listValue) String() string {
	if l.list == nil {
		return ""
	}
	return strings.Join(*l.list, ",")
}

func (l *listValue) Set(s string) error {
	if !l.set {
		*l.list = nil
		l.set = true
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if err := checkHostname(part); err != nil {
			return err
		}
		*l.list = append(*l.list, part)
	}
	return nil
}
