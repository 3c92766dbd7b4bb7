package appliance

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/emersion/go-smtp"

	"clinicbox/appliance/identity"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

// inbox is a real SMTP server (go-smtp) on loopback that keeps what it gets.
type inbox struct {
	addr string
	mail chan []byte
}

type inboxSession struct{ in *inbox }

func (s inboxSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s inboxSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s inboxSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err == nil {
		s.in.mail <- b
	}
	return err
}
func (s inboxSession) Reset()        {}
func (s inboxSession) Logout() error { return nil }

func startInbox(t *testing.T) *inbox {
	in := &inbox{mail: make(chan []byte, 10)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return inboxSession{in}, nil }))
	srv.Domain = "localhost"
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	in.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return in
}

// TestNotificationEmailInBrowser: a clinician writes in a room while the
// client is away; the client's notification e-mail reaches a real SMTP
// server and says only that something is waiting: no message text, no
// room title, no names.
func TestNotificationEmailInBrowser(t *testing.T) {
	in := startInbox(t)
	cfg := testConfig(t)
	cfg.Notify.SMTPAddr = in.addr
	cfg.Notify.SMTPMode = "plain-local"
	cfg.Notify.SMTPFrom = "box@example-clinic.se"
	cfg.Notify.ClinicName = "Mottagningen Linden"
	cfg.Notify.PublicURL = "https://box.example-clinic.se"
	b := startBox(t, cfg)

	unit, _ := b.identity.CreateUnit("Mottagning Norr", identity.UnitStandard)
	staff, _ := b.identity.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna Lind", Email: "anna@example.se"}, []uint64{unit.ID})
	client, _ := b.identity.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle Klient", Email: "kalle@example.se"}, []uint64{unit.ID})
	b.identity.AcceptTerms(client.ID, web.TermsVersion)
	// An active account: the client accepted the invitation (set up a
	// password); a pending one is never notified.
	if err := b.identity.SetPassword(client.ID, "vinterns första snö i mars"); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t)
	browserSession(t, ctx, b, staff)
	step := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	const title, secret = "Samtal om sömnen", "Hemlig-journaltext-4711"
	step(chromedp.Navigate(b.url("/rooms?lang=sv")), chromedp.SendKeys(chromedp.CSS("#title"), title), chromedp.Submit(chromedp.CSS("#title")),
		chromedp.WaitVisible(chromedp.CSS("#invite-member")))
	step(chromedp.Submit(chromedp.CSS("#user")), chromedp.WaitVisible(chromedp.CSS("#text")))
	step(chromedp.SendKeys(chromedp.CSS("#text"), secret), chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))

	var mail []byte
	select {
	case mail = <-in.mail:
	case <-time.After(15 * time.Second):
		t.Fatal("no notification e-mail arrived")
	}
	text := string(mail)
	if !strings.Contains(text, "kalle@example.se") || !strings.Contains(text, "Linden") {
		t.Fatalf("the e-mail lacks the recipient or the clinic:\n%s", text)
	}
	for _, leak := range []string{secret, title, "Anna", "Kalle Klient", "sömnen"} {
		if bytes.Contains(mail, []byte(leak)) {
			t.Errorf("the e-mail contains %q:\n%s", leak, text)
		}
	}
	// A second message in the same room while unread: no second e-mail.
	step(chromedp.SendKeys(chromedp.CSS("#text"), "En till"), chromedp.Click(chromedp.CSS(`#composer button[type="submit"]`)))
	select {
	case m := <-in.mail:
		t.Fatalf("a second e-mail within the interval:\n%s", m)
	case <-time.After(2 * time.Second):
	}
}
