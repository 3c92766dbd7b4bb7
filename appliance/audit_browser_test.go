package appliance

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

// TestAccessLogInBrowser opens the access log as the administrator of a
// running box, filters it by a client in the form, then opens a client's
// own "who has accessed my data" page and the units pages. Every page is
// checked with axe-core. The sessions are made directly in the identity
// store and handed to the browser as its cookie: logging in is
// TestStaffLoginWithTOTPInBrowser's subject.
func TestAccessLogInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	ids := b.identity
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	unit, err := ids.CreateUnit("Mottagning Norr", identity.UnitStandard)
	must(err)
	admin, err := ids.CreateUser(identity.RoleAdmin, identity.Profile{Name: "Greta Admin", Email: "greta@example.se"}, nil)
	must(err)
	anna, err := ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna Lind", Email: "anna@example.se", Title: "Psykolog"}, []uint64{unit.ID})
	must(err)
	cecilia, err := ids.CreateUser(identity.RoleClient, identity.Profile{Name: "Cecilia Berg"}, nil)
	must(err)
	david, err := ids.CreateUser(identity.RoleClient, identity.Profile{Name: "David Ström"}, nil)
	must(err)
	must(ids.AcceptTerms(cecilia.ID, web.TermsVersion))
	start := time.Now().Add(-time.Hour)
	for i, subject := range []uint64{cecilia.ID, david.ID, cecilia.ID, david.ID, cecilia.ID} {
		_, err := b.audit.Append(auditlog.Entry{Time: start.Add(time.Duration(i) * time.Minute), ActorID: anna.ID,
			ActorRole: auditlog.RoleStaff, SubjectID: subject, UnitID: unit.ID, Action: "room.read", Detail: "room:" + strconv.Itoa(i+1)})
		must(err)
	}

	tab := browsertest.NewTab(t)
	ctx, axe, do, text := tab.Ctx, tab.CheckA11y, tab.Do, tab.Text
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll(`+strconv.Quote(sel)+`).length`))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	loginAs := func(u identity.User) {
		t.Helper()
		tok, _, err := ids.StartSession(u, true)
		must(err)
		yes := true
		_, err = chromedp.Call(ctx, network.SetCookie, network.SetCookieParams{
			Name: web.SessionCookie, Value: tok, URL: b.url("/"), Path: "/", Secure: &yes, HTTPOnly: &yes,
			SameSite: network.CookieSameSiteLax,
		})
		must(err)
	}

	// The administrator's review: all five entries, newest first.
	loginAs(admin)
	do(chromedp.Navigate(b.url("/admin/access-log?lang=en")), chromedp.WaitVisible(chromedp.CSS("#audit-table")))
	axe("admin access log")
	if n := count("#audit-table tbody tr"); n != 5 {
		t.Fatalf("%d rows, want 5", n)
	}
	if body := text("#audit-table"); !strings.Contains(body, "Anna Lind") || !strings.Contains(body, "David Ström") ||
		!strings.Contains(body, "Read a conversation") || !strings.Contains(body, "Mottagning Norr") {
		t.Errorf("table: %q", body)
	}

	// Filter by a client in the form.
	logged, _ := b.audit.Count()
	do(chromedp.SetValue(chromedp.CSS("#client"), strconv.FormatUint(cecilia.ID, 10)),
		chromedp.Submit(chromedp.CSS("#client")),
		chromedp.WaitReady(chromedp.CSS(`#client option[value="`+strconv.FormatUint(cecilia.ID, 10)+`"][selected]`)),
		chromedp.WaitVisible(chromedp.CSS("#audit-table")))
	// Three entries about Cecilia, and the review just logged.
	if n := count("#audit-table tbody tr"); n != 4 {
		t.Fatalf("%d rows after filtering by client, want 4", n)
	}
	if body := text("#audit-table tbody"); strings.Contains(body, "David") || !strings.Contains(body, "Reviewed the access log") {
		t.Errorf("filtered table: %q", body)
	}
	if n, _ := b.audit.Count(); n != logged+1 {
		t.Errorf("%d entries after a review by client, want %d", n, logged+1)
	}
	axe("admin access log, filtered")
	// On a phone the table becomes one block per entry, labelled.
	do(chromedp.EmulateViewport(390, 844))
	browsertest.Screenshot(ctx, t, "access-log-phone")
	axe("admin access log on a phone")
	do(chromedp.EmulateViewport(1280, 900))

	// A bad period is a field error, shown in the form.
	do(chromedp.Navigate(b.url("/admin/access-log?lang=en&from=2026-05-01&to=2026-04-01")), chromedp.WaitVisible(chromedp.CSS("#form-error")))
	if inv, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#to").getAttribute("aria-invalid")`)); inv != "true" {
		t.Errorf("the end date is not marked invalid")
	}
	axe("admin access log with an error")

	// Units.
	do(chromedp.Navigate(b.url("/admin/units?lang=en")), chromedp.WaitVisible(chromedp.CSS("#units-table")))
	axe("units")
	browsertest.Screenshot(ctx, t, "units-en")
	do(chromedp.Navigate(b.url("/admin/units/"+strconv.FormatUint(unit.ID, 10)+"?lang=en")), chromedp.WaitVisible(chromedp.CSS("#members-h")))
	if n := count(`input[name="member"]:checked`); n != 1 {
		t.Errorf("%d members ticked, want Anna", n)
	}
	axe("unit")

	// The client's own page: their three entries and the review, nothing of David's.
	loginAs(cecilia)
	do(chromedp.Navigate(b.url("/start?lang=en")), chromedp.WaitVisible(chromedp.CSS(`a[href="/account/access-log"]`)))
	do(chromedp.Click(chromedp.CSS(`a[href="/account/access-log"]`)), chromedp.WaitVisible(chromedp.CSS("#my-audit-table")))
	axe("client access log")
	if n := count("#my-audit-table tbody tr"); n != 4 {
		t.Errorf("%d rows on the client's page, want 4", n)
	}
	if body := text("#my-audit-table"); !strings.Contains(body, "Anna Lind") || !strings.Contains(body, "Psykolog") ||
		!strings.Contains(body, "Greta Admin") || strings.Contains(body, "David") {
		t.Errorf("client's table: %q", body)
	}
	browsertest.Screenshot(ctx, t, "client-access-log-en")
}
