package appliance

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/rooms"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

// TestMyDataInBrowser: a client downloads their data as a ZIP from the
// "My data" page, then deletes their account; the clinician still reads
// the client's message, now from a "former participant".
func TestMyDataInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	unit, _ := b.identity.CreateUnit("Mottagning Syd", identity.UnitStandard)
	staff, _ := b.identity.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna Lind", Email: "anna@example.se"}, []uint64{unit.ID})
	client, _ := b.identity.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle Klient", Email: "kalle@example.se"}, []uint64{unit.ID})
	const pw = "sju sorters kakor till kaffet"
	if err := b.identity.SetPassword(client.ID, pw); err != nil {
		t.Fatal(err)
	}
	b.identity.AcceptTerms(client.ID, web.TermsVersion)
	host := rooms.Actor{ID: staff.ID, Role: "staff", Units: []uint64{unit.ID}}
	room, _ := b.rooms.Create(host, "Samtal", unit.ID)
	b.rooms.AddMember(host, room.ID, client.ID, "client", rooms.RoleParticipant)
	if _, err := b.rooms.Post(rooms.Actor{ID: client.ID, Role: "client", Units: []uint64{unit.ID}}, room.ID, "Mitt meddelande till Anna"); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t)
	browserSession(t, ctx, b, client)
	step := func(actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	step(chromedp.Navigate(b.url("/start?lang=sv")), chromedp.Click(chromedp.CSS(`a[href="/account/data"]`)), chromedp.WaitVisible(chromedp.CSS("#export")))
	for _, v := range browsertest.Axe(ctx, t) {
		t.Errorf("my data: WCAG violation: %s", v)
	}
	// The download, fetched by the page itself with its session.
	zip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`fetch(document.getElementById("export").href).then(async r => {
		const bytes = new Uint8Array(await r.arrayBuffer());
		const text = new TextDecoder("latin1").decode(bytes);
		return r.status + " " + r.headers.get("content-type") + " " + String.fromCharCode(bytes[0], bytes[1]) + " " +
			(text.includes("data.json") ? "has-data.json" : "no-data.json") + " " + bytes.length;
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(zip, "200 application/zip PK has-data.json") {
		t.Fatalf("export: %s", zip)
	}

	// Delete the account: the password again, and the tick.
	step(chromedp.SendKeys(chromedp.CSS("#password"), pw), chromedp.Click(chromedp.CSS("#confirm")),
		chromedp.Submit(chromedp.CSS("#delete-account")), chromedp.WaitVisible(chromedp.CSS(`p.lead[role="status"]`)))
	if msg, _ := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`p.lead[role="status"]`))); !strings.Contains(msg, "raderat") {
		t.Fatalf("after deletion: %q", msg)
	}
	if _, err := b.identity.User(client.ID); !errors.Is(err, identity.ErrNotFound) {
		t.Fatalf("the account still exists: %v", err)
	}
	if _, err := b.identity.UserByEmail("kalle@example.se"); err == nil {
		t.Fatal("the e-mail still finds an account")
	}
	// The clinician still sees the message, from a former participant.
	staffCtx := browsertest.New(t)
	browserSession(t, staffCtx, b, staff)
	if err := chromedp.Do(staffCtx, chromedp.Navigate(b.url("/rooms/"+strconv.FormatUint(room.ID, 10)+"?lang=sv")), chromedp.WaitVisible(chromedp.CSS("#timeline"))); err != nil {
		t.Fatal(err)
	}
	body, _ := chromedp.Run(staffCtx, chromedp.Text(chromedp.CSS("#timeline")))
	if !strings.Contains(body, "Mitt meddelande till Anna") || !strings.Contains(body, "Tidigare deltagare") || strings.Contains(body, "Kalle") {
		t.Fatalf("the room after the erasure: %q", body)
	}
}
