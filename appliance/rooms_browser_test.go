package appliance

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"clinicbox/appliance/identity"
	"clinicbox/web"
	"clinicbox/web/browsertest"
)

func exifJPEG(t *testing.T, marker string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := 0; x < 40; x++ {
		img.Set(x, x%30, color.RGBA{10, 90, 200, 255})
	}
	var plain bytes.Buffer
	if err := jpeg.Encode(&plain, img, nil); err != nil {
		t.Fatal(err)
	}
	exif := append([]byte("Exif\x00\x00"), []byte("GPSLatitude "+marker)...)
	seg := []byte{0xFF, 0xE1, byte((len(exif) + 2) >> 8), byte(len(exif) + 2)}
	b := plain.Bytes()
	out := append([]byte{}, b[:2]...)
	out = append(out, seg...)
	out = append(out, exif...)
	return append(out, b[2:]...)
}

// TestRoomChatInBrowser: a clinician and a client chat live in one room in
// two browsers; the client sends a photo whose location data is gone when
// the clinician downloads it; the client's live connection drops and
// resumes without losing or repeating a message.
func TestRoomChatInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	unit, err := b.identity.CreateUnit("Mottagning Väst", identity.UnitStandard)
	if err != nil {
		t.Fatal(err)
	}
	staff, _ := b.identity.CreateUser(identity.RoleStaff, identity.Profile{Name: "Anna Lind", Email: "anna@example.se"}, []uint64{unit.ID})
	client, _ := b.identity.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle Klient", Email: "kalle@example.se"}, []uint64{unit.ID})
	b.identity.AcceptTerms(client.ID, web.TermsVersion)

	staffCtx, clientCtx := browsertest.New(t), browsertest.New(t)
	browserSession(t, staffCtx, b, staff)
	browserSession(t, clientCtx, b, client)
	step := func(ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatal(err)
		}
	}
	axe := func(ctx context.Context, page string) {
		t.Helper()
		for _, v := range browsertest.Axe(ctx, t) {
			t.Errorf("%s: WCAG violation: %s", page, v)
		}
	}
	countText := func(ctx context.Context, text string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](fmt.Sprintf(
			`[...document.querySelectorAll("#timeline .text")].filter(p => p.textContent === %q).length`, text)))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	waitText := func(ctx context.Context, text string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for countText(ctx, text) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("%q never arrived", text)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// The clinician opens a room and invites the client.
	step(staffCtx, chromedp.Navigate(b.url("/rooms?lang=sv")), chromedp.WaitVisible(chromedp.CSS("#title")))
	axe(staffCtx, "rooms")
	step(staffCtx, chromedp.SendKeys(chromedp.CSS("#title"), "Samtal med Kalle"), chromedp.Submit(chromedp.CSS("#title")),
		chromedp.WaitVisible(chromedp.CSS("#invite-member")))
	step(staffCtx, chromedp.Submit(chromedp.CSS("#user")), chromedp.WaitVisible(chromedp.CSS("#text")))
	roomURL, _ := chromedp.Run(staffCtx, chromedp.Location())

	// The client finds it in their list and opens it.
	step(clientCtx, chromedp.Navigate(b.url("/rooms?lang=sv")), chromedp.Click(chromedp.CSS(".room-link")), chromedp.WaitVisible(chromedp.CSS("#text")))
	axe(clientCtx, "room")

	// Live both ways.
	send := `#composer button[type="submit"]`
	step(staffCtx, chromedp.SendKeys(chromedp.CSS("#text"), "Hej Kalle, hur mår du idag?"), chromedp.Click(chromedp.CSS(send)))
	waitText(clientCtx, "Hej Kalle, hur mår du idag?")
	step(clientCtx, chromedp.SendKeys(chromedp.CSS("#text"), "Bättre, tack!"), chromedp.Click(chromedp.CSS(send)))
	waitText(staffCtx, "Bättre, tack!")
	browsertest.Screenshot(clientCtx, t, "room-client-sv")

	// A photo with location data: uploaded through the form, gone on download.
	const marker = "59.3293N18.0686E-UNIQUE"
	photo := filepath.Join(t.TempDir(), "semester.jpg")
	os.WriteFile(photo, exifJPEG(t, marker), 0o600)
	step(clientCtx, chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{photo}), chromedp.Click(chromedp.CSS(`#upload button[type="submit"]`)))
	step(staffCtx, chromedp.WaitVisible(chromedp.CSS(`#timeline .file a`)))
	href, err := chromedp.Run(staffCtx, chromedp.Evaluate[string](`document.querySelector("#timeline .file a").getAttribute("href")`))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, _ := b.identity.StartSession(staff, true)
	req, _ := http.NewRequest("GET", b.url(href), nil)
	req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: tok})
	resp, err := b.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || bytes.Contains(got, []byte(marker)) || bytes.Contains(got, []byte("Exif")) {
		t.Fatalf("download: %d, marker gone: %v", resp.StatusCode, !bytes.Contains(got, []byte(marker)))
	}
	if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
		t.Fatalf("the photo no longer decodes: %v", err)
	}

	// The client's connection drops; messages sent meanwhile arrive once.
	step(clientCtx, chromedp.Evaluate[chromedp.Void](`document.dispatchEvent(new Event("clinicbox:reconnect"))`))
	staffTok, staffSess, _ := b.identity.StartSession(staff, true)
	for _, text := range []string{"Första under avbrottet", "Andra under avbrottet"} {
		req, _ := http.NewRequest("POST", b.url(strings.TrimPrefix(roomURL, "https://"+b.Addrs().HTTPS)+"/messages"),
			strings.NewReader("text="+strings.ReplaceAll(text, " ", "+")))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-CSRF-Token", staffSess.CSRFToken())
		req.Header.Set("Accept", "application/json")
		req.AddCookie(&http.Cookie{Name: web.SessionCookie, Value: staffTok})
		resp, err := b.client.Do(req)
		if err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("post while the client is away: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	waitText(clientCtx, "Andra under avbrottet")
	time.Sleep(300 * time.Millisecond) // room for a duplicate to show up
	for _, text := range []string{"Hej Kalle, hur mår du idag?", "Bättre, tack!", "Första under avbrottet", "Andra under avbrottet"} {
		if n := countText(clientCtx, text); n != 1 {
			t.Errorf("%q shown %d times", text, n)
		}
	}
	order, _ := chromedp.Run(clientCtx, chromedp.Evaluate[[]int](`[...document.querySelectorAll("#timeline li")].map(li => Number(li.dataset.id))`))
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("timeline out of order: %v", order)
		}
	}
}
