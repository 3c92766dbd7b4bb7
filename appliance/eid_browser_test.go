package appliance

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/internal/oidctest"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

// eidBox starts a whole box configured (through its config, like
// `clinicbox serve --eid-issuer …`) against a real OpenID provider that
// runs in the test over TLS, trusted through --eid-ca-root.
func eidBox(t *testing.T, people ...oidctest.Person) (*testBox, *oidctest.Provider) {
	t.Helper()
	p := oidctest.Start(t, oidctest.Options{ClaimsInIDToken: true, People: people})
	secret := filepath.Join(t.TempDir(), "eid-secret")
	if err := os.WriteFile(secret, []byte(p.ClientSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.EIDIssuer, cfg.EIDClientID, cfg.EIDClientSecretFile, cfg.EIDCARoot = p.Issuer, p.ClientID, secret, p.CAFile
	b := startBox(t, cfg)
	p.AllowRedirect(b.url("/login/eid/callback"))
	return b, p
}

// TestEIDLoginInBrowser logs in with "BankID" in headless Chromium: the
// login page's eID button, the broker's own login page, back to the box
// with a session; a cancel at the broker; and an invitation accepted with
// eID. Each of the box's pages is checked with axe-core.
func TestEIDLoginInBrowser(t *testing.T) {
	const pw = "test-broker-password"
	b, _ := eidBox(t,
		oidctest.Person{Username: "anna", Password: pw, GivenName: "Anna", FamilyName: "Lind", Personnummer: "199001012385"},
		oidctest.Person{Username: "bert", Password: pw, GivenName: "Bert", FamilyName: "Ek", Personnummer: "198512240170"})

	// Anna is a client whose account is linked to her personnummer.
	anna, err := b.identity.CreateUser(identity.RoleClient, identity.Profile{Name: "Anna Lind"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pnr, _ := personnummer.Parse("199001012385", time.Now())
	if err := b.identity.SetPersonnummer(anna.ID, pnr, "Anna Lind"); err != nil {
		t.Fatal(err)
	}
	b.identity.SetStatus(anna.ID, identity.StatusActive)
	b.identity.AcceptTerms(anna.ID, web.TermsVersion)

	ctx := browsertest.New(t)
	axe := func(page string) {
		t.Helper()
		for _, v := range browsertest.Axe(ctx, t) {
			t.Errorf("%s: WCAG violation: %s", page, v)
		}
	}
	do := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			loc, _ := chromedp.Run(ctx, chromedp.Location())
			t.Fatalf("at %s: %v", loc, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	atBroker := func(user string) {
		t.Helper()
		do(chromedp.WaitVisible(chromedp.CSS("#username")),
			chromedp.SendKeys(chromedp.CSS("#username"), user), chromedp.SendKeys(chromedp.CSS("#password"), pw),
			chromedp.Click(chromedp.CSS("#login")))
	}

	// 1. Log in from the login page.
	do(chromedp.Navigate(b.url("/login?lang=en")), chromedp.WaitVisible(chromedp.CSS("#eid-login")))
	axe("login with eID button")
	browsertest.Screenshot(ctx, t, "eid-login-en")
	if s := text("#eid-login"); s != "Log in with BankID or Freja eID" {
		t.Fatalf("button %q", s)
	}
	do(chromedp.Click(chromedp.CSS("#eid-login")))
	atBroker("anna")
	do(chromedp.WaitVisible(chromedp.CSS("#greeting")))
	if g := text("#greeting"); !strings.Contains(g, "Anna Lind") {
		t.Fatalf("greeting %q", g)
	}
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasPrefix(loc, b.url("/start")) {
		t.Fatalf("after eID login at %s", loc)
	}
	axe("start after eID login")

	// 2. Cancel at the broker: a clear page, with a way back.
	do(chromedp.Navigate(b.url("/login/eid")), chromedp.WaitVisible(chromedp.CSS("#cancel")), chromedp.Click(chromedp.CSS("#cancel")),
		chromedp.WaitVisible(chromedp.CSS("#eid-problem")))
	if s := text("#eid-problem"); !strings.Contains(s, "cancelled") {
		t.Fatalf("cancel page: %q", s)
	}
	axe("eID problem page")
	browsertest.Screenshot(ctx, t, "eid-cancelled-en")

	// 3. An invitation accepted with eID: the account gets Bert's
	// personnummer and name, and the terms come next.
	invited, err := b.identity.CreateUser(identity.RoleClient, identity.Profile{Name: "Bertil (typed by staff)"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := b.identity.NewToken(identity.TokenInvite, invited.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	do(chromedp.Navigate(b.url("/login/eid?invite=" + url.QueryEscape(tok))))
	atBroker("bert")
	do(chromedp.WaitReady(chromedp.CSS("main")))
	deadline := time.Now().Add(10 * time.Second)
	for {
		loc, _ = chromedp.Run(ctx, chromedp.Location())
		if strings.HasPrefix(loc, b.url("/terms")) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(loc, b.url("/terms")) {
		t.Fatalf("after an invitation with eID at %s", loc)
	}
	u, err := b.identity.User(invited.ID)
	if err != nil || u.Status != identity.StatusActive || u.Profile.Name != "Bert Ek" || !u.Profile.NameFromEID || u.Profile.Personnummer != "198512240170" {
		t.Fatalf("invited user: %+v %v", u, err)
	}
}

// TestEIDBrokerDownAtStart: a broker that does not answer does not stop
// the box; the login page still works and says eID is unavailable, and
// eID works once the broker is back (after the retry pause).
func TestEIDBrokerDownAtStart(t *testing.T) {
	p := oidctest.Start(t, oidctest.Options{ClaimsInIDToken: true})
	p.SetDown(true)
	secret := filepath.Join(t.TempDir(), "eid-secret")
	os.WriteFile(secret, []byte(p.ClientSecret), 0o600)
	cfg := testConfig(t)
	cfg.EIDIssuer, cfg.EIDClientID, cfg.EIDClientSecretFile, cfg.EIDCARoot = p.Issuer, p.ClientID, secret, p.CAFile
	b := startBox(t, cfg)
	resp, err := b.client.Get(b.url("/login/eid"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Fatalf("/login/eid with the broker down: %d", resp.StatusCode)
	}
	resp, err = b.client.Get(b.url("/login"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/login with the broker down: %d", resp.StatusCode)
	}
}
