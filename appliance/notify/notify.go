// Package notify tells people who are not online that something is waiting
// for them at the clinic: a new message or a video call that has started.
//
// Someone who is online gets it live in the app (the rooms and web
// packages push it over the live connection); this package reaches the
// others by e-mail (SMTP) and/or SMS (an HTTP gateway), only at the
// contact details the person gave themselves and only on the channels
// they chose (identity.User.NotifyEmail / NotifySMS).
//
// A notification carries no health information and nothing from the room:
// no message text, no room title, no names. The API makes that a fact
// rather than a promise: Notify gets a Message that holds only a kind and
// a room id, and the texts (text.go) are fixed sentences with the clinic's
// name and the box's address.
//
//	Notify(recipient, message)
//	  ├ online? ─────────────────────► nothing (they got it live)
//	  ├ no channel? ─────────────────► nothing
//	  ├ sent for (user, room) within
//	  │ the interval and still unread? ► nothing, debounced_total++
//	  └ a job per channel ─► bounded queue ─► workers ─► SMTP / SMS gateway
//	                          (full: failed)   up to 3 attempts, backoff
//	MarkRead(user, room) ──► the next Notify for that room sends again
//
// Sending is asynchronous, so a slow or unreachable SMTP server never
// holds up the post of a message; Close drains the queue with a timeout.
// Logs and errors name internal user and room ids only, never an address,
// a phone number or a text.
package notify

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Kinds of Message.
const (
	KindMessage = "message" // a new message in a room
	KindCall    = "call"    // a video call started in a room
)

// Channels, the values of the metrics' channel label.
const (
	ChannelEmail = "email"
	ChannelSMS   = "sms"
)

// SMTP modes.
const (
	ModeStartTLS   = "starttls"    // STARTTLS is required; nothing goes unencrypted
	ModeTLS        = "tls"         // implicit TLS (port 465)
	ModePlainLocal = "plain-local" // a relay on this machine: 127.0.0.1 / ::1 / localhost only
)

// Message is what happened. It holds no content on purpose: whatever is
// not here cannot end up in an e-mail or SMS.
type Message struct {
	Kind   string // KindMessage or KindCall
	RoomID uint64
}

// Recipient is a person to notify, with the contact details they gave
// themselves and the channels they chose.
type Recipient struct {
	UserID      uint64
	Email       string
	Phone       string
	Lang        string // "sv" or "en"; anything else gets Swedish
	NotifyEmail bool
	NotifySMS   bool
	// Online is true while the person has a live connection: they got
	// the notification in the app and get nothing else.
	Online bool
}

// Config configures a Notifier. Zero values take the defaults.
type Config struct {
	ClinicName string // named in every notification; default "clinicbox"
	PublicURL  string // the link in notifications, e.g. https://box.example-clinic.se; empty: no link
	// Interval is the debounce: at most one notification per room and
	// user per Interval while unread. Default 15 minutes.
	Interval time.Duration

	Email *EmailConfig // nil: no e-mail
	SMS   *SMSConfig   // nil: no SMS

	QueueSize    int           // jobs waiting to be sent; default 256. When full, Notify fails at once.
	Workers      int           // concurrent deliveries; default 2
	MaxAttempts  int           // per delivery; default 3
	RetryDelay   time.Duration // before the second attempt, doubling after; default 5 s
	CloseTimeout time.Duration // how long Close waits for the queue to drain; default 10 s
}

// EmailConfig is the SMTP server notifications are sent through.
type EmailConfig struct {
	Addr     string // host:port
	Mode     string // ModeStartTLS (default), ModeTLS or ModePlainLocal
	Username string // empty: no login
	Password string
	From     string // the sender address; the clinic's name is the display name
	// RootCAs, when set, are the roots to trust instead of the system's
	// (a private relay).
	RootCAs *x509.CertPool
	Timeout time.Duration // one whole SMTP session; default 30 s
}

// SMSConfig is the HTTP gateway SMS are sent through. In URL and Body,
// {to} is replaced by the number in international form (+46701234567)
// and {text} by the text, escaped for where they stand: in the URL's path
// or query, or in a JSON (Body starting with { or [) or form body.
type SMSConfig struct {
	URL         string // https (http only to this machine), with the placeholders
	Method      string // GET (default) or POST
	Body        string // POST body template; empty: no body
	AuthHeader  string // header name, e.g. Authorization; empty: none
	AuthValue   string
	RootCAs     *x509.CertPool
	Timeout     time.Duration // one request; default 10 s
	CountryCode string        // for numbers written without one (070-…); default "46"
}

// Errors of Notify.
var (
	ErrClosed    = errors.New("notify: the notifier is closed")
	ErrQueueFull = errors.New("notify: too many notifications waiting to be sent; this one is dropped")
	ErrKind      = errors.New("notify: unknown kind of message")
)

// Notifier sends notifications. It is safe for concurrent use.
type Notifier struct {
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	mail   *mailer  // nil: no e-mail
	sms    *gateway // nil: no SMS
	m      *metrics
	queue  chan job
	ctx    context.Context // cancelled when Close gives up waiting
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	closed    bool
	last      map[roomUser]time.Time // when (user, room) was last notified, while unread
	lastSweep time.Time
	status    map[string]*ChannelStatus
}

type roomUser struct{ user, room uint64 }

// job is one delivery on one channel.
type job struct {
	channel string
	to      string // address or normalized number; never logged
	lang    string
	msg     Message
	user    uint64
}

// New checks cfg and starts the workers. log may be nil (no logging);
// now is the clock of the debounce (time.Now when nil).
func New(cfg Config, log *slog.Logger, now func() time.Time) (*Notifier, error) {
	if cfg.ClinicName == "" {
		cfg.ClinicName = "clinicbox"
	}
	if strings.TrimSpace(cfg.ClinicName) == "" || strings.IndexFunc(cfg.ClinicName, unicode.IsControl) >= 0 {
		return nil, errors.New("notify: the clinic name must be one line of text")
	}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || strings.IndexFunc(cfg.PublicURL, unicode.IsSpace) >= 0 {
			return nil, fmt.Errorf("notify: the public URL %q is not an https:// URL", cfg.PublicURL)
		}
	}
	cfg.Interval = orDefault(cfg.Interval, 15*time.Minute)
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 256
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 2
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 3
	}
	cfg.RetryDelay = orDefault(cfg.RetryDelay, 5*time.Second)
	cfg.CloseTimeout = orDefault(cfg.CloseTimeout, 10*time.Second)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	n := &Notifier{cfg: cfg, log: log, now: now, m: newMetrics(),
		queue: make(chan job, cfg.QueueSize), last: map[roomUser]time.Time{}, status: map[string]*ChannelStatus{}}
	var err error
	if cfg.Email != nil {
		if n.mail, err = newMailer(*cfg.Email, cfg.ClinicName, cfg.PublicURL); err != nil {
			return nil, err
		}
		n.status[ChannelEmail] = &ChannelStatus{Channel: ChannelEmail}
	}
	if cfg.SMS != nil {
		if n.sms, err = newGateway(*cfg.SMS); err != nil {
			return nil, err
		}
		n.status[ChannelSMS] = &ChannelStatus{Channel: ChannelSMS}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	for range cfg.Workers {
		n.wg.Add(1)
		go n.worker()
	}
	return n, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Notify tells r about m on the channels r chose, unless r is online (they
// got it live), has no channel, or was told about this room less than the
// interval ago and has not read it since. sent reports whether a
// notification was queued; delivery happens in the background, so Notify
// returns at once whatever the SMTP server or SMS gateway does. An error
// means a notification that should go out could not be queued.
func (n *Notifier) Notify(ctx context.Context, r Recipient, m Message) (sent bool, err error) {
	if m.Kind != KindMessage && m.Kind != KindCall {
		return false, fmt.Errorf("%w %q", ErrKind, m.Kind)
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if r.Online {
		return false, nil
	}
	var jobs []job
	if r.NotifyEmail && strings.TrimSpace(r.Email) != "" && n.mail != nil {
		if addr, err := checkAddress(r.Email); err != nil {
			n.failed(ChannelEmail, r.UserID, m, 0, err)
		} else {
			jobs = append(jobs, job{channel: ChannelEmail, to: addr})
		}
	}
	if r.NotifySMS && strings.TrimSpace(r.Phone) != "" && n.sms != nil {
		if num, err := normalizePhone(r.Phone, n.sms.countryCode); err != nil {
			n.failed(ChannelSMS, r.UserID, m, 0, err)
		} else {
			jobs = append(jobs, job{channel: ChannelSMS, to: num})
		}
	}
	if len(jobs) == 0 {
		return false, nil
	}

	now := n.now()
	key := roomUser{r.UserID, m.RoomID}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return false, ErrClosed
	}
	if last, ok := n.last[key]; ok && now.Sub(last) < n.cfg.Interval {
		n.mu.Unlock()
		n.m.debounced.Inc()
		return false, nil
	}
	var full []string
	for _, j := range jobs {
		j.lang, j.msg, j.user = r.Lang, m, r.UserID
		select {
		case n.queue <- j:
			sent = true
		default:
			full = append(full, j.channel)
		}
	}
	if sent {
		n.last[key] = now
	}
	n.sweepLocked(now)
	n.mu.Unlock()

	for _, ch := range full {
		n.failed(ch, r.UserID, m, 0, ErrQueueFull)
	}
	if len(full) > 0 {
		return sent, ErrQueueFull
	}
	return sent, nil
}

// MarkRead records that the user has seen what is waiting in the room:
// the next message or call there notifies again at once.
func (n *Notifier) MarkRead(userID, roomID uint64) {
	n.mu.Lock()
	delete(n.last, roomUser{userID, roomID})
	n.mu.Unlock()
}

// sweepLocked forgets debounce entries older than the interval (they
// debounce nothing any more), at most once per interval, so the map holds
// only the recent ones.
func (n *Notifier) sweepLocked(now time.Time) {
	if now.Sub(n.lastSweep) < n.cfg.Interval {
		return
	}
	n.lastSweep = now
	for k, t := range n.last {
		if now.Sub(t) >= n.cfg.Interval {
			delete(n.last, k)
		}
	}
}

// Close stops taking notifications and waits up to CloseTimeout for the
// queued ones to be delivered; then it cancels what is still in flight.
// The error says how many were not delivered.
func (n *Notifier) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	close(n.queue)
	n.mu.Unlock()

	done := make(chan struct{})
	go func() { n.wg.Wait(); close(done) }()
	timer := time.NewTimer(n.cfg.CloseTimeout)
	defer timer.Stop()
	select {
	case <-done:
		n.cancel()
		return nil
	case <-timer.C:
	}
	// Give up: in-flight sends and backoff waits end at once, and what is
	// left in the queue is counted as failed without being tried.
	left := len(n.queue)
	n.cancel()
	<-done
	return fmt.Errorf("notify: shutting down after %v: %d queued notification(s) and those in progress were not delivered", n.cfg.CloseTimeout, left)
}

func (n *Notifier) worker() {
	defer n.wg.Done()
	for j := range n.queue {
		n.deliver(j)
	}
}

// deliver sends one job, retrying with exponential backoff.
func (n *Notifier) deliver(j job) {
	var err error
	attempt := 0
	for attempt < n.cfg.MaxAttempts {
		if n.ctx.Err() != nil {
			err = errors.New("notify: not sent: the box is shutting down")
			break
		}
		attempt++
		err = n.send(n.ctx, j)
		if err == nil {
			n.m.sent.WithLabelValues(j.channel).Inc()
			n.setStatus(j.channel, nil)
			n.log.Info("notification sent", "channel", j.channel, "kind", j.msg.Kind, "user", j.user, "room", j.msg.RoomID, "attempt", attempt)
			return
		}
		if isPermanent(err) || attempt >= n.cfg.MaxAttempts {
			break
		}
		delay := n.cfg.RetryDelay << (attempt - 1)
		n.log.Warn("notification not sent; will retry", "channel", j.channel, "user", j.user, "room", j.msg.RoomID,
			"attempt", attempt, "retry_in", delay.String(), "err", err.Error())
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-n.ctx.Done():
			t.Stop()
		}
	}
	n.failed(j.channel, j.user, j.msg, attempt, err)
}

func (n *Notifier) send(ctx context.Context, j job) error {
	t := texts(j.lang, j.msg.Kind, n.cfg.ClinicName, n.cfg.PublicURL)
	switch j.channel {
	case ChannelEmail:
		msg, err := n.mail.compose(j.to, j.lang, t, n.now())
		if err != nil {
			return err
		}
		return n.mail.send(ctx, j.to, msg)
	case ChannelSMS:
		return n.sms.send(ctx, j.to, t.Short)
	}
	return fmt.Errorf("notify: unknown channel %q", j.channel)
}

// failed counts, logs and records a notification that was not delivered.
// err never holds an address, number or text (see the senders).
func (n *Notifier) failed(channel string, user uint64, m Message, attempts int, err error) {
	n.m.failed.WithLabelValues(channel).Inc()
	n.setStatus(channel, err)
	n.log.Error("notification not delivered", "channel", channel, "kind", m.Kind, "user", user, "room", m.RoomID,
		"attempts", attempts, "err", err.Error())
}

// ChannelStatus is how a channel is doing, for the admin's system page:
// plain words, no personal data.
type ChannelStatus struct {
	Channel     string // ChannelEmail or ChannelSMS
	LastSent    time.Time
	LastFailure time.Time
	LastError   string // the last failure's cause; empty once a later send worked
}

// Status reports each configured channel, e-mail first.
func (n *Notifier) Status() []ChannelStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []ChannelStatus
	for _, ch := range []string{ChannelEmail, ChannelSMS} {
		if s := n.status[ch]; s != nil {
			out = append(out, *s)
		}
	}
	return out
}

func (n *Notifier) setStatus(channel string, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.status[channel]
	if s == nil {
		return
	}
	if err == nil {
		s.LastSent, s.LastError = n.now(), ""
		return
	}
	s.LastFailure, s.LastError = n.now(), err.Error()
}

// permanentError is a failure that another attempt would repeat: a wrong
// password, a refused address, a gateway that says the request is wrong.
type permanentError struct{ error }

func (e permanentError) Unwrap() error { return e.error }

func permanent(err error) error { return permanentError{err} }

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}
