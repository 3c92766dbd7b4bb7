package appliance

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/totp"
	"clinicbox/web/browsertest"
)

// TestStaffLoginWithTOTPInBrowser walks a new staff member through the
// whole first login in headless Chromium: the set-up link, a password,
// connecting an authenticator (the test computes the codes from the key
// shown on the page), the recovery codes, then logging out and in again
// with password and code. Each page is checked with axe-core.
func TestStaffLoginWithTOTPInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	u, err := b.identity.CreateUser(identity.RoleAdmin, identity.Profile{Name: "Greta Admin", Email: "greta@example.se"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	link, err := b.identity.NewToken(identity.TokenSetup, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tab := browsertest.NewTab(t)
	ctx, axe, do, text := tab.Ctx, tab.CheckA11y, tab.Do, tab.Text

	do(chromedp.Navigate(b.url("/setup/" + link + "?lang=en")))
	axe("setup")
	// A weak password is refused with a message, and the link still works.
	do(chromedp.SendKeys(chromedp.CSS("#password"), "password1234"), chromedp.SendKeys(chromedp.CSS("#password2"), "password1234"),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#form-error")))
	if msg := text("#form-error"); !strings.Contains(msg, "common") {
		t.Fatalf("weak password message: %q", msg)
	}
	const pw = "lingon sylt och mjuka pannkakor"
	do(chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#secret")))
	axe("second-factor enrolment")
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ReplaceAll(text("#secret"), " ", ""))
	if err != nil {
		t.Fatalf("secret on the page: %v", err)
	}
	now := time.Now()
	do(chromedp.SendKeys(chromedp.CSS("#code"), totp.Code(secret, now)), chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes")))
	axe("recovery codes")
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
	if err != nil || codes != 10 {
		t.Fatalf("recovery codes shown: %d %v", codes, err)
	}
	do(chromedp.Click(chromedp.CSS("a.button")), chromedp.WaitVisible(chromedp.CSS("#greeting")))
	if g := text("#greeting"); !strings.Contains(g, "Greta Admin") {
		t.Fatalf("greeting %q", g)
	}
	axe("start")
	browsertest.Screenshot(ctx, t, "start-en")

	// Log out, then in again: password, then the next code (the one just
	// used may not be used twice).
	do(chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`p.lead[role="status"]`)))
	do(chromedp.Navigate(b.url("/start")), chromedp.WaitVisible(chromedp.CSS("#email")))
	axe("login")
	do(chromedp.SendKeys(chromedp.CSS("#email"), "greta@example.se"), chromedp.SendKeys(chromedp.CSS("#password"), "wrong password here"),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#form-error")))
	do(chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#code")))
	axe("code")
	do(chromedp.SendKeys(chromedp.CSS("#code"), totp.Code(secret, now.Add(totp.Period))), chromedp.Submit(chromedp.CSS("#code")),
		chromedp.WaitVisible(chromedp.CSS("#greeting")))
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(loc, "/start") {
		t.Fatalf("after login at %s", loc)
	}
	// The admin's staff page lists the account.
	do(chromedp.Navigate(b.url("/admin/staff")), chromedp.WaitVisible(chromedp.CSS("table.list")))
	axe("staff admin")
	if body := text("table.list"); !strings.Contains(body, "greta@example.se") {
		t.Fatalf("staff list: %q", body)
	}
	// Retention settings and the record of processing.
	do(chromedp.Navigate(b.url("/admin/retention")), chromedp.WaitVisible(chromedp.CSS("#preview")))
	axe("retention")
	do(chromedp.Click(chromedp.CSS("#preview")), chromedp.WaitVisible(chromedp.CSS("#report")))
	axe("retention preview")
	// The system page: health in plain words, for admins and technicians.
	do(chromedp.Navigate(b.url("/system")), chromedp.WaitVisible(chromedp.CSS("table.list")))
	axe("system")
	if body := text("table.list"); !strings.Contains(body, "schema") || !strings.Contains(body, "ok") {
		t.Fatalf("system page: %q", body)
	}
}
