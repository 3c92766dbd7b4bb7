package appliance

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/web/browsertest"
)

// TestStaffPasskeyInBrowser walks a new staff member through choosing a
// passkey instead of TOTP in headless Chromium, with Chromium's virtual
// authenticator standing in for the laptop's: the set-up link, a
// password, "use a passkey", the recovery codes, logging out and in again
// with password and passkey, and then trying to remove the only passkey
// (refused: it is the only second factor). The pages are checked with
// axe-core. Passkeys are bound to a name, so the test uses
// https://localhost:<port>; at https://127.0.0.1:<port> the code page
// says to use the name instead.
func TestStaffPasskeyInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	u, err := b.identity.CreateUser(identity.RoleStaff, identity.Profile{Name: "Pia Passkey", Email: "pia@example.se"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	link, err := b.identity.NewToken(identity.TokenSetup, u.ID, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(b.Addrs().HTTPS)
	byName := func(path string) string { return "https://localhost:" + port + path }

	tab := browsertest.NewTab(t)
	ctx, axe, do, text := tab.Ctx, tab.CheckA11y, tab.Do, tab.Text

	// The laptop's authenticator: a platform one that keeps passkeys and
	// verifies the user (fingerprint), answering at once.
	do(chromedp.Navigate(byName("/?lang=en")))
	if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	va, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
		Options: &webauthn.VirtualAuthenticatorOptions{
			Protocol:                    webauthn.AuthenticatorProtocolCtap2,
			Transport:                   webauthn.AuthenticatorTransportInternal,
			HasResidentKey:              true,
			HasUserVerification:         true,
			IsUserVerified:              true,
			AutomaticPresenceSimulation: true,
		}})
	if err != nil {
		t.Fatal(err)
	}

	// Set-up link → password → the second-factor page, which offers a
	// passkey beside the app.
	const pw = "blåbär och vaniljsås i skogen"
	do(chromedp.Navigate(byName("/setup/"+link)),
		chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.SendKeys(chromedp.CSS("#password2"), pw),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#passkey-enrol")))
	axe("second-factor page with a passkey")
	do(chromedp.SetValue(chromedp.CSS("#passkey-label"), "Pia's laptop"), chromedp.Click(chromedp.CSS("#passkey-enrol")),
		chromedp.WaitVisible(chromedp.CSS("#recovery-codes li")))
	codes, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#recovery-codes li").length`))
	if err != nil || codes != 10 {
		t.Fatalf("recovery codes shown: %d %v", codes, err)
	}
	axe("recovery codes after a passkey")
	do(chromedp.Click(chromedp.CSS("#passkey-recovery a.button")), chromedp.WaitVisible(chromedp.CSS("#greeting")))
	creds, err := chromedp.Call(ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va.AuthenticatorID})
	if err != nil || len(creds.Credentials) != 1 || creds.Credentials[0].RpID != "localhost" {
		t.Fatalf("the authenticator holds %+v (%v)", creds, err)
	}
	if got, _ := b.identity.User(u.ID); got.Status != identity.StatusActive || !got.HasPasskey || got.HasTOTP {
		t.Fatalf("after enrolment: %+v", got)
	}

	// The passkeys page lists it.
	do(chromedp.Click(chromedp.CSS(`a[href="/account/passkeys"]`)), chromedp.WaitVisible(chromedp.CSS("#passkey-list")))
	if list := text("#passkey-list"); !strings.Contains(list, "Pia's laptop") {
		t.Fatalf("passkey list: %q", list)
	}
	axe("passkeys page")

	// Log out, then in: password, then the passkey.
	do(chromedp.Navigate(byName("/start")), chromedp.WaitVisible(chromedp.CSS("#greeting")),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS(`p.lead[role="status"]`)))
	do(chromedp.Navigate(byName("/start")), chromedp.WaitVisible(chromedp.CSS("#email")),
		chromedp.SendKeys(chromedp.CSS("#email"), "pia@example.se"), chromedp.SendKeys(chromedp.CSS("#password"), pw),
		chromedp.Submit(chromedp.CSS("#password")), chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
	axe("code page with a passkey")
	do(chromedp.Click(chromedp.CSS("#passkey-login")), chromedp.WaitVisible(chromedp.CSS("#greeting")))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); !strings.HasSuffix(loc, "/start") {
		t.Fatalf("after the passkey at %s", loc)
	}
	list, _ := b.identity.Passkeys().List(u.ID)
	if len(list) != 1 || list[0].LastUsedAt.IsZero() {
		t.Fatalf("passkey after login: %+v", list)
	}

	// The only second factor cannot be removed.
	do(chromedp.Navigate(byName("/account/passkeys")), chromedp.WaitVisible(chromedp.CSS("#passkey-list")),
		chromedp.Click(chromedp.CSS(`form[action="/account/passkeys/remove"] button`)), chromedp.WaitVisible(chromedp.CSS("#form-error")))
	if msg := text("#form-error"); !strings.Contains(msg, "only second step") {
		t.Fatalf("removing the only passkey: %q", msg)
	}
	axe("passkeys page refusing removal")
	if n, _ := b.identity.Passkeys().Count(u.ID); n != 1 {
		t.Fatal("the only passkey was removed")
	}

	// A passkey the authenticator no longer has (the browser says
	// NotAllowedError, as when the user cancels): a clear message, and
	// the code page stays usable.
	do(chromedp.Navigate(byName("/start")), chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.CSS(`p.lead[role="status"]`)))
	do(chromedp.Navigate(byName("/login")), chromedp.SendKeys(chromedp.CSS("#email"), "pia@example.se"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-login")))
	if _, err := chromedp.Call(ctx, webauthn.ClearCredentials, webauthn.ClearCredentialsParams{AuthenticatorID: va.AuthenticatorID}); err != nil {
		t.Fatal(err)
	}
	do(chromedp.Click(chromedp.CSS("#passkey-login")), chromedp.WaitVisible(chromedp.CSS("#passkey-status.alert")))
	if msg := text("#passkey-status"); !strings.Contains(msg, "Cancelled") {
		t.Fatalf("cancelled: %q", msg)
	}
	axe("code page after a cancelled passkey")

	// At the box's address instead of its name: no passkey button, but
	// a sentence saying to use the name.
	do(chromedp.Navigate(b.url("/login?lang=en")), chromedp.SendKeys(chromedp.CSS("#email"), "pia@example.se"),
		chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#passkey-use-name")))
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#passkey-login").length`)); n != 0 {
		t.Fatal("a passkey button at an IP address")
	}
	axe("code page at an address")
}
