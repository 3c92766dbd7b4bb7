package appliance

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"clinicbox/web/browsertest"
)

// TestLandingPageInBrowser loads the landing page and the certificate page
// in Swedish and English in headless Chromium, saves screenshots and
// requires zero axe-core WCAG 2.1 AA violations.
func TestLandingPageInBrowser(t *testing.T) {
	b := startBox(t, testConfig(t))
	ctx := browsertest.New(t)
	cases := []struct{ lang, path, h1 string }{
		{"sv", "/", "Välkommen"},
		{"en", "/", "Welcome"},
		{"sv", "/ca", "Installera mottagningens certifikat"},
		{"en", "/ca", "Install the clinic's certificate"},
	}
	for _, c := range cases {
		t.Run(c.lang+c.path, func(t *testing.T) {
			if err := chromedp.Do(ctx, chromedp.Navigate(b.url(c.path+"?lang="+c.lang))); err != nil {
				t.Fatal(err)
			}
			h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimSpace(h1) != c.h1 {
				t.Errorf("h1 %q, want %q", h1, c.h1)
			}
			lang, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.documentElement.lang`))
			if err != nil || lang != c.lang {
				t.Errorf("html lang %q (%v)", lang, err)
			}
			name := strings.Trim(strings.ReplaceAll(c.path, "/", "-"), "-")
			if name == "" {
				name = "home"
			}
			t.Logf("screenshot: %s", browsertest.Screenshot(ctx, t, name+"-"+c.lang))
			for _, v := range browsertest.Axe(ctx, t) {
				t.Errorf("WCAG violation: %s", v)
			}
		})
	}
}

// TestPhoneLayout checks that the landing page fits a small phone screen
// without horizontal scrolling.
func TestPhoneLayout(t *testing.T) {
	b := startBox(t, testConfig(t))
	ctx := browsertest.New(t, chromedp.WindowSize(360, 740))
	if err := chromedp.Do(ctx, chromedp.Navigate(b.url("/ca?lang=sv"))); err != nil {
		t.Fatal(err)
	}
	overflow, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil {
		t.Fatal(err)
	}
	if overflow {
		t.Error("the page scrolls sideways on a 360 px wide phone")
	}
	browsertest.Screenshot(ctx, t, "ca-phone-sv")
}
