package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// mailer sends e-mail through one SMTP server. It uses go-smtp's client
// rather than net/smtp: net/smtp has no implicit TLS, no timeouts and
// would quietly send without TLS to a server that offers no STARTTLS.
type mailer struct {
	cfg       EmailConfig
	host      string // of Addr, for TLS and messages
	fromAddr  string
	domain    string // of From, for Message-ID
	helloName string
	clinic    string // the sender's display name
}

func newMailer(cfg EmailConfig, clinic, publicURL string) (*mailer, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("notify: the SMTP address %q is not host:port", cfg.Addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("notify: the SMTP address %q has no valid port", cfg.Addr)
	}
	switch cfg.Mode {
	case "":
		cfg.Mode = ModeStartTLS
	case ModeStartTLS, ModeTLS:
	case ModePlainLocal:
		if !isLoopback(host) {
			return nil, fmt.Errorf("notify: SMTP mode plain-local is only for a relay on this machine, not %s", host)
		}
	default:
		return nil, fmt.Errorf("notify: unknown SMTP mode %q (starttls, tls or plain-local)", cfg.Mode)
	}
	from, err := mail.ParseAddress(cfg.From)
	if err != nil || from.Name != "" {
		return nil, fmt.Errorf("notify: the sender %q is not a plain e-mail address", cfg.From)
	}
	at := strings.LastIndexByte(from.Address, '@')
	if at < 0 {
		return nil, fmt.Errorf("notify: the sender %q is not a plain e-mail address", cfg.From)
	}
	if (cfg.Username == "") != (cfg.Password == "") {
		return nil, errors.New("notify: the SMTP user name and password go together")
	}
	cfg.Timeout = orDefault(cfg.Timeout, 30*time.Second)
	m := &mailer{cfg: cfg, host: host, fromAddr: from.Address, domain: from.Address[at+1:], helloName: "localhost", clinic: clinic}
	// Introduce ourselves by the box's public name when there is one:
	// some relays frown upon "localhost".
	if u, err := url.Parse(publicURL); err == nil && u.Hostname() != "" && publicURL != "" {
		m.helloName = u.Hostname()
	}
	return m, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}

// checkAddress accepts one plain address, as identity stores it.
func checkAddress(s string) (string, error) {
	a, err := mail.ParseAddress(strings.TrimSpace(s))
	if err != nil || a.Name != "" || !strings.Contains(a.Address, "@") || strings.ContainsAny(a.Address, "\r\n") {
		return "", permanent(errors.New("notify: the user's e-mail address cannot be used"))
	}
	return a.Address, nil
}

// compose writes the whole message: headers and a quoted-printable UTF-8
// text body.
func (m *mailer) compose(to, lang string, t text, now time.Time) ([]byte, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	h := func(name, value string) { b.WriteString(fold(name+": "+value) + "\r\n") }
	h("Date", now.Format(time.RFC1123Z))
	h("From", (&mail.Address{Name: m.clinic, Address: m.fromAddr}).String())
	h("To", (&mail.Address{Address: to}).String())
	h("Subject", mime.QEncoding.Encode("utf-8", t.Subject))
	h("Message-ID", "<"+hex.EncodeToString(id)+"@"+m.domain+">")
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "quoted-printable")
	if strings.HasPrefix(strings.ToLower(lang), "en") {
		h("Content-Language", "en")
	} else {
		h("Content-Language", "sv")
	}
	// RFC 3834: an automatic message; no auto-replies, please.
	h("Auto-Submitted", "auto-generated")
	h("X-Auto-Response-Suppress", "All")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	if _, err := qp.Write([]byte(t.Short + "\r\n\r\n-- \r\n" + t.Footer + "\r\n")); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fold breaks a header line longer than 78 characters at spaces (RFC
// 5322 2.2.3); encoded words come out of mime.QEncoding separated by
// spaces, so a long clinic name folds too.
func fold(line string) string {
	const limit = 78
	var b strings.Builder
	for len(line) > limit {
		i := strings.LastIndexByte(line[:limit+1], ' ')
		if i <= 0 {
			// No space early enough: break at the next one, if any.
			if i = strings.IndexByte(line[limit:], ' '); i < 0 {
				break
			}
			i += limit
		}
		b.WriteString(line[:i] + "\r\n")
		line = line[i:] // the space starts the continuation line
	}
	b.WriteString(line)
	return b.String()
}

// send delivers msg to one recipient in one SMTP session. Errors name the
// server and the SMTP codes, never the recipient.
func (m *mailer) send(ctx context.Context, to string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	tlsConfig := &tls.Config{ServerName: m.host, RootCAs: m.cfg.RootCAs, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{Timeout: 10 * time.Second}

	var conn net.Conn
	var err error
	if m.cfg.Mode == ModeTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", m.cfg.Addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", m.cfg.Addr)
	}
	if err != nil {
		if isCertError(err) {
			return permanent(fmt.Errorf("notify: the SMTP server %s has a certificate this box does not trust: %w", m.cfg.Addr, err))
		}
		return fmt.Errorf("notify: cannot connect to the SMTP server %s: %w", m.cfg.Addr, err)
	}
	// Whatever the client is waiting for, the context's end ends it.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()

	var c *smtp.Client
	if m.cfg.Mode == ModeStartTLS {
		// Greeting, EHLO and STARTTLS; a server that does not offer
		// STARTTLS gets nothing, neither the password nor the mail.
		c, err = smtp.NewClientStartTLS(conn, tlsConfig)
		if err != nil {
			conn.Close()
			err = m.wrap(ctx, "STARTTLS failed (e-mail is never sent unencrypted)", err)
			if strings.Contains(err.Error(), "doesn't support STARTTLS") {
				return permanent(err)
			}
			return err
		}
	} else {
		c = smtp.NewClient(conn)
	}
	defer c.Close()
	c.CommandTimeout, c.SubmissionTimeout = m.cfg.Timeout, m.cfg.Timeout
	if m.cfg.Mode == ModeStartTLS {
		// The TLS handshake happens with the first command after
		// STARTTLS: do it here, so a bad certificate reads as one.
		if err := c.Hello(m.helloName); err != nil {
			if isCertError(err) {
				return permanent(fmt.Errorf("notify: the SMTP server %s has a certificate this box does not trust: %w", m.cfg.Addr, err))
			}
			return m.wrap(ctx, "TLS after STARTTLS failed", err)
		}
	} else if err := c.Hello(m.helloName); err != nil {
		return m.wrap(ctx, "the greeting failed", err)
	}
	if m.cfg.Mode != ModePlainLocal {
		if st, ok := c.TLSConnectionState(); !ok || !st.HandshakeComplete {
			return permanent(fmt.Errorf("notify: the connection to the SMTP server %s is not encrypted; nothing was sent", m.cfg.Addr))
		}
	}

	if m.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return permanent(fmt.Errorf("notify: the SMTP server %s offers no login (AUTH); check --smtp-mode and --smtp-username", m.cfg.Addr))
		}
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.cfg.Password)); err != nil {
			var se *smtp.SMTPError
			if errors.As(err, &se) && se.Code/100 == 5 {
				return permanent(fmt.Errorf("notify: the SMTP server %s refused the user name or password (%s)", m.cfg.Addr, codeOf(se)))
			}
			return m.wrap(ctx, "login failed", err)
		}
	}
	if err := c.Mail(m.fromAddr, nil); err != nil {
		return m.refused(ctx, "the sender address", err)
	}
	if err := c.Rcpt(to, nil); err != nil {
		return m.refused(ctx, "the recipient", err)
	}
	w, err := c.Data()
	if err != nil {
		return m.refused(ctx, "the message", err)
	}
	if _, err := w.Write(msg); err != nil {
		return m.wrap(ctx, "sending the message failed", err)
	}
	if err := w.Close(); err != nil {
		return m.refused(ctx, "the message", err)
	}
	c.Quit() // the server has taken the message; a failed goodbye changes nothing
	return nil
}

// refused reports a refused SMTP command by its codes only: the server's
// own words may repeat the recipient's address.
func (m *mailer) refused(ctx context.Context, what string, err error) error {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		e := fmt.Errorf("notify: the SMTP server %s refused %s (%s)", m.cfg.Addr, what, codeOf(se))
		if se.Code/100 == 5 {
			return permanent(e)
		}
		return e
	}
	return m.wrap(ctx, "sending failed at "+what, err)
}

func (m *mailer) wrap(ctx context.Context, what string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("notify: SMTP server %s: %s: no answer within %v", m.cfg.Addr, what, m.cfg.Timeout)
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return fmt.Errorf("notify: SMTP server %s: %s (%s)", m.cfg.Addr, what, codeOf(se))
	}
	return fmt.Errorf("notify: SMTP server %s: %s: %w", m.cfg.Addr, what, err)
}

func codeOf(se *smtp.SMTPError) string {
	s := strconv.Itoa(se.Code)
	if c := se.EnhancedCode; c != smtp.NoEnhancedCode && c != smtp.EnhancedCodeNotSet {
		s += fmt.Sprintf(" %d.%d.%d", c[0], c[1], c[2])
	}
	return s
}

func isCertError(err error) bool {
	var ve *tls.CertificateVerificationError
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	return errors.As(err, &ve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ie)
}
