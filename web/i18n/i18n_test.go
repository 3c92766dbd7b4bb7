package i18n

import (
	"net/http/httptest"
	"testing"
	"testing/fstest"

	"clinicbox/web/ui"
)

func TestCatalogsComplete(t *testing.T) {
	c, err := Load(ui.Files, "i18n")
	if err != nil {
		t.Fatal(err)
	}
	if c.For("en").T("home.title") == c.For("sv").T("home.title") {
		t.Error("home.title is not translated")
	}
	if got := c.For("xx").Code; got != "sv" {
		t.Errorf("unknown language falls back to %q", got)
	}
}

func TestMissingKeyFound(t *testing.T) {
	fsys := fstest.MapFS{
		"i/sv.json": {Data: []byte(`{"a":"A","b":"B"}`)},
		"i/en.json": {Data: []byte(`{"a":"A"}`)},
	}
	if _, err := Load(fsys, "i"); err == nil {
		t.Fatal("a missing translation must fail")
	}
}

func TestSplitCatalogs(t *testing.T) {
	fsys := fstest.MapFS{
		"i/sv.json":       {Data: []byte(`{"a":"A"}`)},
		"i/en.json":       {Data: []byte(`{"a":"A"}`)},
		"i/rooms.sv.json": {Data: []byte(`{"b":"B-sv"}`)},
		"i/rooms.en.json": {Data: []byte(`{"b":"B-en"}`)},
	}
	c, err := Load(fsys, "i")
	if err != nil {
		t.Fatal(err)
	}
	if c.For("en").T("b") != "B-en" || c.For("sv").T("a") != "A" {
		t.Fatal("split catalogs not merged")
	}
	fsys["i/dup.sv.json"] = &fstest.MapFile{Data: []byte(`{"a":"again"}`)}
	fsys["i/dup.en.json"] = &fstest.MapFile{Data: []byte(`{}`)}
	if _, err := Load(fsys, "i"); err == nil {
		t.Fatal("a key defined twice must fail")
	}
}

func TestAcceptLanguage(t *testing.T) {
	cases := map[string]string{
		"":                        "",
		"en-US,en;q=0.9":          "en",
		"sv-SE,sv;q=0.9,en;q=0.8": "sv",
		"de-DE,en;q=0.5":          "en",
		"fr":                      "",
		"en;q=0.4,sv;q=0.6":       "sv",
		"nb-NO,en;q=0.9":          "sv",
		"en;q=bogus,sv;q=2":       "",
		"da, en":                  "en",
		"*":                       "",
	}
	for h, want := range cases {
		if got := FromAcceptLanguage(h); got != want {
			t.Errorf("%q: got %q want %q", h, got, want)
		}
	}
}

func TestNegotiate(t *testing.T) {
	r := httptest.NewRequest("GET", "/?lang=en", nil)
	r.Header.Set("Accept-Language", "sv")
	if l, explicit := Negotiate(r); l != "en" || !explicit {
		t.Errorf("query: %s %v", l, explicit)
	}
	r = httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept-Language", "sv")
	r.Header.Set("Cookie", "lang=en")
	if l, _ := Negotiate(r); l != "en" {
		t.Errorf("cookie must win over Accept-Language: %s", l)
	}
	r = httptest.NewRequest("GET", "/?lang=zz", nil)
	if l, explicit := Negotiate(r); l != "sv" || explicit {
		t.Errorf("default: %s %v", l, explicit)
	}
}

func FuzzAcceptLanguage(f *testing.F) {
	f.Add("sv-SE,sv;q=0.9,en;q=0.8")
	f.Add(";q=,,")
	f.Fuzz(func(t *testing.T, h string) {
		if l := FromAcceptLanguage(h); l != "" && !Supported(l) {
			t.Fatalf("unsupported %q", l)
		}
	})
}
