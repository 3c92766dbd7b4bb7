package notify_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"reflect"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"clinicbox/appliance/notify"
)

const clinic = "Vårdcentralen Norr"

// parsed is a received mail taken apart.
type parsed struct {
	header mail.Header
	from   *mail.Address
	to     *mail.Address
	subj   string
	body   string
}

func parseMail(t *testing.T, data []byte) parsed {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a mail: %v\n%s", err, data)
	}
	var p parsed
	p.header = msg.Header
	if p.from, err = mail.ParseAddress(msg.Header.Get("From")); err != nil {
		t.Fatalf("From %q: %v", msg.Header.Get("From"), err)
	}
	if p.to, err = mail.ParseAddress(msg.Header.Get("To")); err != nil {
		t.Fatalf("To %q: %v", msg.Header.Get("To"), err)
	}
	if p.subj, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body is not quoted-printable: %v", err)
	}
	p.body = string(body)
	return p
}

// sevenBitShortLines checks that every line is 7-bit and at most 78
// characters: headers are encoded and folded, the body quoted-printable.
func sevenBitShortLines(t *testing.T, data []byte) {
	t.Helper()
	for _, line := range strings.Split(string(data), "\r\n") {
		if len(line) > 78 {
			t.Errorf("line longer than 78: %q", line)
		}
		for _, c := range []byte(line) {
			if c >= 0x80 {
				t.Fatalf("8-bit byte in %q", line)
			}
		}
	}
}

func marker(t *testing.T) string {
	b := make([]byte, 8)
	rand.Read(b)
	return "MARKER-" + hex.EncodeToString(b)
}

// TestEmailSTARTTLS sends through a real SMTP server that offers
// STARTTLS and requires a login, and reads the mail it got.
func TestEmailSTARTTLS(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	log, logs := newLog()
	n := startNotifier(t, notify.Config{ClinicName: clinic, PublicURL: "https://box.example-clinic.se",
		Email: emailConfig(ms, pki, notify.ModeStartTLS)}, log, newClock().Now)

	// The room has a title and the message a text, both a unique marker:
	// the API has no place for either, so neither can reach a mail.
	secret := marker(t)
	room := struct {
		ID          uint64
		Title, Text string
	}{7, "Room " + secret, "Text " + secret}
	anna := notify.Recipient{UserID: 41, Email: "anna.andersson@example.se", Phone: "070-123 45 67", Lang: "sv", NotifyEmail: true}
	notifyOK(t, n, anna, notify.Message{Kind: notify.KindMessage, RoomID: room.ID}, true)

	got := ms.next(t)
	if !got.TLS || !got.Authed {
		t.Fatalf("mail over TLS %v, logged in %v", got.TLS, got.Authed)
	}
	if got.From != fromAddr || len(got.To) != 1 || got.To[0] != anna.Email {
		t.Fatalf("envelope from %q to %q", got.From, got.To)
	}
	p := parseMail(t, got.Data)
	if p.from.Address != fromAddr || p.from.Name != clinic {
		t.Errorf("From %+v", p.from)
	}
	if p.to.Address != anna.Email || p.to.Name != "" {
		t.Errorf("To %+v", p.to)
	}
	if p.subj != "Nytt meddelande hos "+clinic {
		t.Errorf("Subject %q", p.subj)
	}
	mustContain(t, "body", p.body, "Du har ett nytt meddelande hos "+clinic+". Logga in för att läsa det: https://box.example-clinic.se\r\n")
	h := p.header
	if d, err := h.Date(); err != nil || !d.Equal(t0) {
		t.Errorf("Date %q: %v", h.Get("Date"), err)
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@example-clinic\.se>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID %q", h.Get("Message-ID"))
	}
	for k, v := range map[string]string{"MIME-Version": "1.0", "Content-Type": "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable", "Auto-Submitted": "auto-generated", "Content-Language": "sv"} {
		if h.Get(k) != v {
			t.Errorf("%s: %q, want %q", k, h.Get(k), v)
		}
	}
	sevenBitShortLines(t, got.Data)

	// English, a call.
	bo := notify.Recipient{UserID: 42, Email: "bo@example.se", Lang: "en", NotifyEmail: true}
	notifyOK(t, n, bo, notify.Message{Kind: notify.KindCall, RoomID: 7}, true)
	p2 := parseMail(t, ms.next(t).Data)
	if p2.subj != "Video call at "+clinic || p2.header.Get("Content-Language") != "en" {
		t.Errorf("Subject %q", p2.subj)
	}
	mustContain(t, "body", p2.body, "A video call has started at "+clinic+". Log in to join: https://box.example-clinic.se")

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for _, m := range ms.received() {
		mustNotContain(t, "mail", string(m.Data), secret)
	}
	// The log names user and room ids, never an address, a number or a text.
	l := logs.String()
	mustContain(t, "log", l, `"user":41`, `"room":7`, `"channel":"email"`)
	mustNotContain(t, "log", l, secret, anna.Email, bo.Email, "anna", "070", "Du har", "video call has")
	if v := counter(t, n, "clinicbox_notify_sent_total", "email"); v != 2 {
		t.Errorf("sent{email} = %v", v)
	}
}

// TestAPICarriesNoContent pins down what a notification can be made of: a
// kind from a fixed list and ids. A message text or room title has no
// field to travel in, and a text in Kind is refused.
func TestAPICarriesNoContent(t *testing.T) {
	fields := func(v any) map[string]string {
		out := map[string]string{}
		rt := reflect.TypeOf(v)
		for i := range rt.NumField() {
			out[rt.Field(i).Name] = rt.Field(i).Type.String()
		}
		return out
	}
	if got, want := fields(notify.Message{}), map[string]string{"Kind": "string", "RoomID": "uint64"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Message fields %v, want %v: a new field could carry content", got, want)
	}
	want := map[string]string{"UserID": "uint64", "Email": "string", "Phone": "string", "Lang": "string",
		"NotifyEmail": "bool", "NotifySMS": "bool", "Online": "bool"}
	if got := fields(notify.Recipient{}); !reflect.DeepEqual(got, want) {
		t.Fatalf("Recipient fields %v, want %v", got, want)
	}

	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig()})
	n := startNotifier(t, notify.Config{Email: emailConfig(ms, pki, notify.ModeStartTLS)}, nil, nil)
	secret := marker(t)
	r := notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}
	if sent, err := n.Notify(t.Context(), r, notify.Message{Kind: secret, RoomID: 1}); !errors.Is(err, notify.ErrKind) || sent {
		t.Fatalf("Notify with a text as kind: %v, %v", sent, err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ms.received()) != 0 {
		t.Fatal("a mail was sent")
	}
}

// TestEmailImplicitTLS sends through a server on an implicit-TLS port.
func TestEmailImplicitTLS(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), implicitTLS: true, requireAuth: true})
	// A long name (the most --clinic-name takes) is folded over lines.
	clinic := strings.TrimSpace(strings.Repeat("Vårdcentralen Ödeshög ", 4)) + " och Mjölby"
	n := startNotifier(t, notify.Config{ClinicName: clinic, Email: emailConfig(ms, pki, notify.ModeTLS)}, nil, newClock().Now)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", Lang: "en", NotifyEmail: true},
		notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	got := ms.next(t)
	if !got.TLS || !got.Authed || got.To[0] != "anna@example.se" {
		t.Fatalf("%+v", got)
	}
	sevenBitShortLines(t, got.Data)
	p := parseMail(t, got.Data)
	if p.subj != "New message at "+clinic || p.from.Name != clinic {
		t.Fatalf("Subject %q, From %q", p.subj, p.from.Name)
	}
	// Without --public-url there is no link.
	mustContain(t, "body", p.body, "You have a new message at "+clinic+". Log in to read it.\r\n")
	mustNotContain(t, "body", p.body, "http")
}

// TestEmailPlainLocal sends to a relay on this machine without TLS or
// login.
func TestEmailPlainLocal(t *testing.T) {
	ms := startMailServer(t, serverOpts{})
	n := startNotifier(t, notify.Config{Email: &notify.EmailConfig{Addr: ms.Addr, Mode: notify.ModePlainLocal, From: fromAddr}}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	if got := ms.next(t); got.TLS || got.To[0] != "anna@example.se" {
		t.Fatalf("%+v", got)
	}
	if _, err := notify.New(notify.Config{Email: &notify.EmailConfig{Addr: "192.168.1.5:25", Mode: notify.ModePlainLocal, From: fromAddr}}, nil, nil); err == nil {
		t.Fatal("plain-local to a LAN relay accepted")
	}
}

// TestSTARTTLSRequired: a server that does not offer STARTTLS gets
// neither the password nor the mail, even if it would take a login
// without TLS.
func TestSTARTTLSRequired(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{insecure: true, requireAuth: true})
	n := startNotifier(t, notify.Config{Email: emailConfig(ms, pki, notify.ModeStartTLS)}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "email") == 1 })
	if cmds := ms.log(); len(cmds) != 0 {
		t.Fatalf("the server got %v", cmds)
	}
	mustContain(t, "status", statusOf(t, n, notify.ChannelEmail).LastError, "STARTTLS", ms.Addr, "never sent unencrypted")
}

// TestUntrustedCertificate: the relay's certificate must verify.
func TestUntrustedCertificate(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	cfg := emailConfig(ms, pki, notify.ModeStartTLS)
	cfg.RootCAs = nil // the system's roots do not know the test CA
	n := startNotifier(t, notify.Config{Email: cfg, RetryDelay: time.Hour}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	// Not retried (an hour's backoff would hold the test up): permanent.
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "email") == 1 })
	mustContain(t, "status", statusOf(t, n, notify.ChannelEmail).LastError, "certificate this box does not trust")
	if cmds := ms.log(); len(cmds) != 0 {
		t.Fatalf("the server got %v", cmds)
	}
}

// TestWrongSMTPPassword fails at once (another try would fail the same
// way) with an error that says what to fix, and never sends the mail.
func TestWrongSMTPPassword(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	cfg := emailConfig(ms, pki, notify.ModeStartTLS)
	cfg.Password = "wrong password"
	log, logs := newLog()
	n := startNotifier(t, notify.Config{Email: cfg, RetryDelay: time.Hour}, log, nil)
	notifyOK(t, n, notify.Recipient{UserID: 9, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "email") == 1 })
	st := statusOf(t, n, notify.ChannelEmail)
	mustContain(t, "status", st.LastError, "refused the user name or password", "535 5.7.8", ms.Addr)
	if st.LastFailure.IsZero() || !st.LastSent.IsZero() {
		t.Errorf("status %+v", st)
	}
	if cmds := ms.log(); !slicesEqual(cmds, []string{"AUTH"}) {
		t.Fatalf("server saw %v, want one AUTH and no MAIL", cmds)
	}
	l := logs.String()
	mustContain(t, "log", l, "refused the user name or password", `"user":9`)
	mustNotContain(t, "log", l, "wrong password", "anna@example.se")
	if v := counter(t, n, "clinicbox_notify_sent_total", "email"); v != 0 {
		t.Errorf("sent %v", v)
	}
}

func slicesEqual(a, b []string) bool { return reflect.DeepEqual(a, b) }

// TestSMTPDown: with nothing listening, Notify still returns at once;
// the delivery is tried three times with backoff, then counted as failed.
func TestSMTPDown(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	log, logs := newLog()
	n := startNotifier(t, notify.Config{Email: &notify.EmailConfig{Addr: addr, Mode: notify.ModeStartTLS, From: fromAddr},
		RetryDelay: 20 * time.Millisecond}, log, nil)
	start := time.Now()
	notifyOK(t, n, notify.Recipient{UserID: 5, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "email") == 1 })
	// Backoff: 20 ms, then 40 ms.
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Errorf("three attempts in %v: no backoff", d)
	}
	l2 := logs.String()
	if c := strings.Count(l2, "will retry"); c != 2 {
		t.Errorf("%d retries logged, want 2:\n%s", c, l2)
	}
	mustContain(t, "log", l2, `"attempts":3`)
	mustContain(t, "status", statusOf(t, n, notify.ChannelEmail).LastError, "cannot connect to the SMTP server "+addr)
}

// TestSlowSMTPServer: a server that accepts connections and never
// answers fills the bounded queue; Notify stays fast and reports the
// overflow, and Close gives up after its timeout.
func TestSlowSMTPServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close() // hold it open, say nothing
		}
	}()
	n, err := notify.New(notify.Config{Email: &notify.EmailConfig{Addr: l.Addr().String(), From: fromAddr, Timeout: time.Minute},
		QueueSize: 1, Workers: 1, CloseTimeout: 100 * time.Millisecond}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := notify.Recipient{UserID: 5, Email: "anna@example.se", NotifyEmail: true}
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 1}, true) // taken by the worker, which hangs
	eventually(t, "the worker to connect", func() bool { return accepted.Load() == 1 })
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 2}, true) // fills the queue
	start := time.Now()
	sent, err := n.Notify(t.Context(), r, notify.Message{Kind: notify.KindMessage, RoomID: 3})
	if !errors.Is(err, notify.ErrQueueFull) || sent {
		t.Fatalf("third Notify: %v, %v", sent, err)
	}
	if time.Since(start) > 100*time.Millisecond {
		t.Fatal("Notify waited for the queue")
	}
	if v := counter(t, n, "clinicbox_notify_failed_total", "email"); v != 1 {
		t.Fatalf("failed = %v", v)
	}
	start = time.Now()
	err = n.Close()
	if err == nil || !strings.Contains(err.Error(), "not delivered") {
		t.Fatalf("Close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %v", d)
	}
	if _, err := n.Notify(t.Context(), r, notify.Message{Kind: notify.KindMessage, RoomID: 4}); !errors.Is(err, notify.ErrClosed) {
		t.Fatalf("Notify after Close: %v", err)
	}
	if v := counter(t, n, "clinicbox_notify_failed_total", "email"); v != 3 {
		t.Fatalf("failed = %v after Close, want 3 (one refused, two given up)", v)
	}
}

// TestCloseDrains: Close waits for what is queued.
func TestCloseDrains(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	n, err := notify.New(notify.Config{Email: emailConfig(ms, pki, notify.ModeStartTLS)}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for room := range uint64(10) {
		notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}, notify.Message{Kind: notify.KindMessage, RoomID: room}, true)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(ms.received()); got != 10 {
		t.Fatalf("%d mails after Close, want 10", got)
	}
}
