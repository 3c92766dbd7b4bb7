package config

import (
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SMTP modes (--smtp-mode).
const (
	SMTPStartTLS   = "starttls"    // submission, usually port 587: STARTTLS is required
	SMTPTLS        = "tls"         // implicit TLS, usually port 465
	SMTPPlainLocal = "plain-local" // a relay on this machine (127.0.0.1 / localhost) only
)

// NotifySettings are the settings of notifications by e-mail and SMS
// (package notify). E-mail is off while SMTPAddr is empty, SMS while
// SMSURL is empty; the in-app notifications need neither.
type NotifySettings struct {
	ClinicName     string        // named in every notification
	PublicURL      string        // the link in notifications; empty: no link
	NotifyInterval time.Duration // at most one notification per room and user per interval

	SMTPAddr         string
	SMTPMode         string
	SMTPUsername     string
	SMTPPasswordFile string
	SMTPFrom         string
	SMTPCARoot       string

	// SMSURL is a URL template with the placeholders {to} and {text};
	// SMSBody, for POST, a body template with the same placeholders.
	SMSURL      string
	SMSMethod   string
	SMSBody     string
	SMSAuthFile string // holds one line "Name: value", the gateway's auth header
	SMSCARoot   string
}

// DefaultNotifySettings are the embedded defaults.
func DefaultNotifySettings() NotifySettings {
	return NotifySettings{ClinicName: "clinicbox", NotifyInterval: 15 * time.Minute, SMTPMode: SMTPStartTLS, SMSMethod: "GET"}
}

// addNotifyFlags declares the notification settings.
func addNotifyFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Notify.ClinicName, "clinic-name", cfg.Notify.ClinicName, "the clinic's `NAME`, shown in notifications (\"You have a new message at NAME\")")
	fs.StringVar(&cfg.Notify.PublicURL, "public-url", cfg.Notify.PublicURL, "https `URL` that notifications link to, e.g. https://box.example-clinic.se (default: no link)")
	fs.Var(durationValue{&cfg.Notify.NotifyInterval}, "notify-interval", "at most one e-mail/SMS per room and person per this `DURATION` while unread")
	fs.StringVar(&cfg.Notify.SMTPAddr, "smtp-addr", cfg.Notify.SMTPAddr, "`HOST:PORT` of the SMTP server for e-mail notifications (empty: no e-mail)")
	fs.Var(choiceValue{&cfg.Notify.SMTPMode, []string{SMTPStartTLS, SMTPTLS, SMTPPlainLocal}}, "smtp-mode", "starttls (required, usually port 587), tls (implicit TLS, port 465) or plain-local (a relay on 127.0.0.1/localhost only)")
	fs.StringVar(&cfg.Notify.SMTPUsername, "smtp-username", cfg.Notify.SMTPUsername, "SMTP `USER` name (with --smtp-password-file)")
	fs.StringVar(&cfg.Notify.SMTPPasswordFile, "smtp-password-file", cfg.Notify.SMTPPasswordFile, "`FILE` holding the SMTP password (a file, so it shows neither in ps nor in the environment)")
	fs.StringVar(&cfg.Notify.SMTPFrom, "smtp-from", cfg.Notify.SMTPFrom, "sender `ADDRESS` of notification e-mail, e.g. noreply@example-clinic.se")
	fs.StringVar(&cfg.Notify.SMTPCARoot, "smtp-ca-root", cfg.Notify.SMTPCARoot, "PEM `FILE` with the root certificate of an SMTP server that is not publicly trusted")
	fs.StringVar(&cfg.Notify.SMSURL, "sms-url", cfg.Notify.SMSURL, "SMS gateway `TEMPLATE`: an https URL where {to} and {text} are replaced (URL-escaped), e.g. https://sms.example/send?to={to}&msg={text} (empty: no SMS)")
	fs.Var(choiceValue{&cfg.Notify.SMSMethod, []string{"GET", "POST"}}, "sms-method", "HTTP method for the SMS gateway: GET or POST")
	fs.StringVar(&cfg.Notify.SMSBody, "sms-body", cfg.Notify.SMSBody, "POST body `TEMPLATE` with {to} and {text}: JSON-escaped when it starts with { or [ (sent as application/json), else form-escaped")
	fs.StringVar(&cfg.Notify.SMSAuthFile, "sms-auth-file", cfg.Notify.SMSAuthFile, "`FILE` holding the gateway's auth header as one line \"Name: value\", e.g. \"Authorization: Bearer …\"")
	fs.StringVar(&cfg.Notify.SMSCARoot, "sms-ca-root", cfg.Notify.SMSCARoot, "PEM `FILE` with the root certificate of an SMS gateway that is not publicly trusted")
}

// NotifyByEmail reports whether e-mail notifications are configured.
func (c *Config) NotifyByEmail() bool { return c.Notify.SMTPAddr != "" }

// NotifyBySMS reports whether SMS notifications are configured.
func (c *Config) NotifyBySMS() bool { return c.Notify.SMSURL != "" }

// validateNotify checks the notification settings, reading the secrets
// and CA roots once so that a wrong path stops the box at start with the
// flag's name.
func (c *Config) validateNotify() error {
	name := strings.TrimSpace(c.Notify.ClinicName)
	if name == "" {
		return &FieldError{Field: "clinic-name", Msg: "must not be empty"}
	}
	if utf8.RuneCountInString(name) > 100 {
		return &FieldError{Field: "clinic-name", Msg: "is longer than 100 characters"}
	}
	if strings.IndexFunc(c.Notify.ClinicName, unicode.IsControl) >= 0 {
		return &FieldError{Field: "clinic-name", Msg: "must be one line of text without control characters"}
	}
	if c.Notify.PublicURL != "" {
		u, err := url.Parse(c.Notify.PublicURL)
		if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
			return &FieldError{Field: "public-url", Msg: fmt.Sprintf("%q is not an https:// URL without query, e.g. https://box.example-clinic.se", c.Notify.PublicURL)}
		}
	}
	if c.Notify.NotifyInterval < time.Minute {
		return &FieldError{Field: "notify-interval", Msg: fmt.Sprintf("%v is too short; at least 1m, e.g. 15m", c.Notify.NotifyInterval)}
	}
	if err := c.validateSMTP(); err != nil {
		return err
	}
	return c.validateSMS()
}

func (c *Config) validateSMTP() error {
	if c.Notify.SMTPAddr == "" {
		for _, f := range []struct{ name, v string }{
			{"smtp-username", c.Notify.SMTPUsername}, {"smtp-password-file", c.Notify.SMTPPasswordFile}, {"smtp-from", c.Notify.SMTPFrom}, {"smtp-ca-root", c.Notify.SMTPCARoot},
		} {
			if f.v != "" {
				return &FieldError{Field: "smtp-addr", Msg: fmt.Sprintf("--%s is set but --smtp-addr is not; set the SMTP server (host:port) to turn e-mail notifications on", f.name)}
			}
		}
		return nil
	}
	host, port, err := net.SplitHostPort(c.Notify.SMTPAddr)
	n, perr := strconv.Atoi(port)
	if err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
		return &FieldError{Field: "smtp-addr", Msg: fmt.Sprintf("%q is not host:port, e.g. smtp.example-clinic.se:587", c.Notify.SMTPAddr)}
	}
	switch c.Notify.SMTPMode {
	case SMTPStartTLS:
		if n == 465 {
			return &FieldError{Field: "smtp-mode", Msg: "port 465 speaks implicit TLS; use --smtp-mode tls (or port 587 for STARTTLS)"}
		}
	case SMTPTLS:
		if n == 587 || n == 25 {
			return &FieldError{Field: "smtp-mode", Msg: fmt.Sprintf("port %d speaks STARTTLS; use --smtp-mode starttls (or port 465 for implicit TLS)", n)}
		}
	case SMTPPlainLocal:
		if !isLoopbackHost(host) {
			return &FieldError{Field: "smtp-mode", Msg: fmt.Sprintf("plain-local sends unencrypted and is only for a relay on this machine (127.0.0.1 or localhost), not %s; use starttls or tls", host)}
		}
	default:
		return &FieldError{Field: "smtp-mode", Msg: fmt.Sprintf("%q is not one of: starttls, tls, plain-local", c.Notify.SMTPMode)}
	}
	if c.Notify.SMTPFrom == "" {
		return &FieldError{Field: "smtp-from", Msg: "e-mail notifications need a sender address, e.g. noreply@example-clinic.se"}
	}
	if a, err := mail.ParseAddress(c.Notify.SMTPFrom); err != nil || a.Name != "" || a.Address != c.Notify.SMTPFrom || !strings.Contains(a.Address, "@") {
		return &FieldError{Field: "smtp-from", Msg: fmt.Sprintf("%q is not a plain e-mail address, e.g. noreply@example-clinic.se (the clinic name is added as the sender's name)", c.Notify.SMTPFrom)}
	}
	if (c.Notify.SMTPUsername == "") != (c.Notify.SMTPPasswordFile == "") {
		return &FieldError{Field: "smtp-username", Msg: "set both --smtp-username and --smtp-password-file, or neither (a relay that needs no login)"}
	}
	if c.Notify.SMTPPasswordFile != "" {
		if _, err := c.SMTPPassword(); err != nil {
			return err
		}
	}
	if c.Notify.SMTPCARoot != "" {
		if _, err := c.SMTPRoots(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) validateSMS() error {
	if c.Notify.SMSURL == "" {
		for _, f := range []struct{ name, v string }{
			{"sms-body", c.Notify.SMSBody}, {"sms-auth-file", c.Notify.SMSAuthFile}, {"sms-ca-root", c.Notify.SMSCARoot},
		} {
			if f.v != "" {
				return &FieldError{Field: "sms-url", Msg: fmt.Sprintf("--%s is set but --sms-url is not; set the gateway's URL template to turn SMS notifications on", f.name)}
			}
		}
		return nil
	}
	if err := CheckSMSURL(c.Notify.SMSURL); err != nil {
		return &FieldError{Field: "sms-url", Msg: err.Error()}
	}
	if c.Notify.SMSBody != "" && c.Notify.SMSMethod != "POST" {
		return &FieldError{Field: "sms-method", Msg: "--sms-body is set; a body needs --sms-method POST"}
	}
	all := c.Notify.SMSURL + c.Notify.SMSBody
	for _, p := range []string{"{to}", "{text}"} {
		if !strings.Contains(all, p) {
			return &FieldError{Field: "sms-url", Msg: fmt.Sprintf("neither --sms-url nor --sms-body contains the placeholder %s", p)}
		}
	}
	if c.Notify.SMSAuthFile != "" {
		if _, _, err := c.SMSAuthHeader(); err != nil {
			return err
		}
	}
	if c.Notify.SMSCARoot != "" {
		if _, err := c.SMSRoots(); err != nil {
			return err
		}
	}
	return nil
}

// CheckSMSURL explains what is wrong with an SMS gateway URL template:
// with its placeholders filled in it must be an https URL (http only to
// a gateway on this machine), without a password in it and without
// placeholders in the host.
func CheckSMSURL(tmpl string) error {
	marked, err := url.Parse(strings.NewReplacer("{to}", "placeholder-to", "{text}", "placeholder-text").Replace(tmpl))
	if err == nil && strings.Contains(marked.Host, "placeholder-") {
		return fmt.Errorf("%q has a placeholder in the host name", tmpl)
	}
	u, err := url.Parse(strings.NewReplacer("{to}", "%2B46700000000", "{text}", "x").Replace(tmpl))
	if err != nil || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not a URL, e.g. https://sms.example/send?to={to}&text={text}", tmpl)
	}
	if u.User != nil {
		return fmt.Errorf("%q holds a user name or password; put the credentials in the --sms-auth-file header instead", tmpl)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return fmt.Errorf("%q is not an https:// URL (plain http is only for a gateway on this machine)", tmpl)
	}
	return nil
}

// SMTPPassword reads the SMTP password from SMTPPasswordFile (one line;
// surrounding white space is dropped), "" when no file is set.
func (c *Config) SMTPPassword() (string, error) {
	if c.Notify.SMTPPasswordFile == "" {
		return "", nil
	}
	return readSecretLine("smtp-password-file", c.Notify.SMTPPasswordFile)
}

// SMSAuthHeader reads the gateway's auth header from SMSAuthFile: one
// line "Name: value". Both are "" when no file is set.
func (c *Config) SMSAuthHeader() (name, value string, err error) {
	if c.Notify.SMSAuthFile == "" {
		return "", "", nil
	}
	line, err := readSecretLine("sms-auth-file", c.Notify.SMSAuthFile)
	if err != nil {
		return "", "", err
	}
	name, value, ok := strings.Cut(line, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || !isHeaderToken(name) || value == "" || strings.IndexFunc(value, unicode.IsControl) >= 0 {
		// The value is a secret: the message names the file, never its content.
		return "", "", &FieldError{Field: "sms-auth-file", Msg: fmt.Sprintf("%s does not hold one header line \"Name: value\", e.g. \"Authorization: Bearer …\"", c.Notify.SMSAuthFile)}
	}
	return name, value, nil
}

// SMTPRoots returns the certificates to trust for the SMTP server: the
// system's roots plus SMTPCARoot's, or nil (the system's alone) when
// SMTPCARoot is empty.
func (c *Config) SMTPRoots() (*x509.CertPool, error) {
	return readRoots("smtp-ca-root", c.Notify.SMTPCARoot)
}

// SMSRoots is SMTPRoots for the SMS gateway (SMSCARoot).
func (c *Config) SMSRoots() (*x509.CertPool, error) {
	return readRoots("sms-ca-root", c.Notify.SMSCARoot)
}

func readSecretLine(field, path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", &FieldError{Field: field, Msg: fmt.Sprintf("cannot read %s: %v", path, unwrapPathError(err))}
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", &FieldError{Field: field, Msg: fmt.Sprintf("%s is empty", path)}
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", &FieldError{Field: field, Msg: fmt.Sprintf("%s has more than one line; put only the secret in it", path)}
	}
	return s, nil
}

func readRoots(field, path string) (*x509.CertPool, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, &FieldError{Field: field, Msg: fmt.Sprintf("cannot read %s: %v", path, unwrapPathError(err))}
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := b; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, &FieldError{Field: field, Msg: fmt.Sprintf("%s: a certificate cannot be read: %v", path, err)}
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, &FieldError{Field: field, Msg: fmt.Sprintf("%s holds no PEM certificate", path)}
	}
	return pool, nil
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// isHeaderToken reports whether s is an HTTP header name (RFC 9110 token).
func isHeaderToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}
