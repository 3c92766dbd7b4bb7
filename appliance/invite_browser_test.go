package appliance

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

// browserSession logs a browser in as u by setting a session cookie
// directly (the login itself is covered by TestStaffLoginWithTOTPInBrowser).
func browserSession(t *testing.T, ctx context.Context, b *testBox, u identity.User) {
	t.Helper()
	tok, _, err := b.identity.StartSession(u, true)
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	if _, err := chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
		Name: web.SessionCookie, Value: tok, URL: b.url("/"), Path: "/", Secure: &yes, HTTPOnly: &yes, SameSite: network.CookieSameSiteLax,
	}); err != nil {
		t.Fatal(err)
	}
}

// TestClientInvitationInBrowser: a staff member invites a client in the
// UI; the client opens the link in another browser, chooses e-mail and
// password, accepts the terms and reaches their start page.
func TestClientInvitationInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	staff, err := b.identity.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara Staff", Email: "sara@example.se"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	staffCtx := browsertest.New(t)
	browserSession(t, staffCtx, b, staff)
	step := func(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	text := func(ctx context.Context, sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("%s: %v", sel, err)
		}
		return s
	}
	noViolations := func(ctx context.Context, page string) {
		t.Helper()
		for _, v := range browsertest.Axe(ctx, t) {
			t.Errorf("%s: WCAG violation: %s", page, v)
		}
	}

	step(staffCtx, chromedp.Navigate(b.url("/start?lang=sv")), chromedp.Click(chromedp.CSS(`a[href="/invite"]`)), chromedp.WaitVisible(chromedp.CSS("#name")))
	noViolations(staffCtx, "invite")
	step(staffCtx, chromedp.SendKeys(chromedp.CSS("#name"), "Kalle Klient"), chromedp.Submit(chromedp.CSS("#name")),
		chromedp.WaitVisible(chromedp.CSS("#invite-link")))
	link := strings.TrimSpace(text(staffCtx, "#invite-link"))
	if !strings.Contains(link, "/invite/") {
		t.Fatalf("invitation link %q", link)
	}

	clientCtx := browsertest.New(t)
	step(clientCtx, chromedp.Navigate(link), chromedp.WaitVisible(chromedp.CSS("#email")))
	noViolations(clientCtx, "accept invitation")
	const pw = "kanelbullar till fikat varje dag"
	step(clientCtx, chromedp.SendKeys(chromedp.CSS("#email"), "kalle@example.se"), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.SendKeys(chromedp.CSS("#password2"), pw), chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#accept")))
	noViolations(clientCtx, "terms")
	browsertest.Screenshot(clientCtx, t, "terms-sv")
	step(clientCtx, chromedp.Click(chromedp.CSS("#read")), chromedp.Click(chromedp.CSS("#accept")), chromedp.WaitVisible(chromedp.CSS("#greeting")))
	if g := text(clientCtx, "#greeting"); !strings.Contains(g, "Kalle Klient") {
		t.Fatalf("greeting %q", g)
	}
	noViolations(clientCtx, "client start")
	step(clientCtx, chromedp.Navigate(b.url("/account")), chromedp.WaitVisible(chromedp.CSS("#phone")))
	noViolations(clientCtx, "account")

	u, err := b.identity.UserByEmail("kalle@example.se")
	if err != nil || u.TermsVersion != web.TermsVersion || u.Role != identity.RoleClient {
		t.Fatalf("client after the flow: %+v %v", u, err)
	}
	// The link works once.
	step(clientCtx, chromedp.Navigate(link+"?lang=sv"), chromedp.WaitVisible(chromedp.CSS("h1")))
	if h := text(clientCtx, "h1"); !strings.Contains(h, "fungerar inte") {
		t.Fatalf("a used link: %q", h)
	}
}
