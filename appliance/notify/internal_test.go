package notify

import (
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	for in, want := range map[string]string{
		"070-123 45 67":         "+46701234567",
		"0701234567":            "+46701234567",
		"+46701234567":          "+46701234567",
		"+46 (0)70-123 45 67":   "+46701234567",
		"0046 70 123 45 67":     "+46701234567",
		"(070) 123.45.67":       "+46701234567",
		"+44 7700 900123":       "+447700900123",
		"+358 40 1234567":       "+358401234567",
		" 08-123 456 78 ":       "+46812345678",
		"070\u00a0123\u00a0456": "+4670123456",
	} {
		got, err := normalizePhone(in, "46")
		if err != nil || got != want {
			t.Errorf("normalizePhone(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "abc", "12345", "+0701234567", "070-123 45 67 ext 2", "+46 70 12+3", "0" + strings.Repeat("1", 20), "tel:+46701234567"} {
		if got, err := normalizePhone(in, "46"); err == nil {
			t.Errorf("normalizePhone(%q) = %q, want an error", in, got)
		} else if strings.Contains(err.Error(), in) && in != "" {
			t.Errorf("the error repeats the number: %v", err)
		}
	}
	if got, _ := normalizePhone("040 123 45 67", "358"); got != "+358401234567" {
		t.Errorf("another country code: %q", got)
	}
}

// TestTexts: fixed sentences in both languages, with nothing but the
// clinic's name and the link filled in.
func TestTexts(t *testing.T) {
	const c, l = "Kliniken", "https://box.example.se"
	cases := []struct {
		lang, kind, link string
		want             text
	}{
		{"sv", KindMessage, l, text{"Nytt meddelande hos Kliniken", "Du har ett nytt meddelande hos Kliniken. Logga in för att läsa det: https://box.example.se", ""}},
		{"sv", KindCall, l, text{"Videosamtal hos Kliniken", "Ett videosamtal har börjat hos Kliniken. Logga in för att delta: https://box.example.se", ""}},
		{"en", KindMessage, l, text{"New message at Kliniken", "You have a new message at Kliniken. Log in to read it: https://box.example.se", ""}},
		{"en-GB", KindCall, l, text{"Video call at Kliniken", "A video call has started at Kliniken. Log in to join: https://box.example.se", ""}},
		{"", KindMessage, "", text{"Nytt meddelande hos Kliniken", "Du har ett nytt meddelande hos Kliniken. Logga in för att läsa det.", ""}},
		{"de", KindCall, "", text{"Videosamtal hos Kliniken", "Ett videosamtal har börjat hos Kliniken. Logga in för att delta.", ""}},
		{"EN", KindMessage, "", text{"New message at Kliniken", "You have a new message at Kliniken. Log in to read it.", ""}},
	}
	for _, tc := range cases {
		got := texts(tc.lang, tc.kind, c, tc.link)
		if got.Subject != tc.want.Subject || got.Short != tc.want.Short {
			t.Errorf("texts(%q, %q) = %+v", tc.lang, tc.kind, got)
		}
		if !strings.Contains(got.Footer, c) || !strings.HasSuffix(got.Footer, ".") {
			t.Errorf("footer %q", got.Footer)
		}
	}
}

func TestNewRejects(t *testing.T) {
	for name, cfg := range map[string]Config{
		"clinic name with newline": {ClinicName: "A\r\nBcc: x@example.se"},
		"public url":               {PublicURL: "javascript:alert(1)"},
		"smtp addr":                {Email: &EmailConfig{Addr: "smtp.example.se", From: "a@example.se"}},
		"smtp mode":                {Email: &EmailConfig{Addr: "smtp.example.se:587", Mode: "ssl", From: "a@example.se"}},
		"plain remote":             {Email: &EmailConfig{Addr: "smtp.example.se:25", Mode: ModePlainLocal, From: "a@example.se"}},
		"from with name":           {Email: &EmailConfig{Addr: "smtp.example.se:587", From: "A <a@example.se>"}},
		"user without password":    {Email: &EmailConfig{Addr: "smtp.example.se:587", From: "a@example.se", Username: "u"}},
		"sms http remote":          {SMS: &SMSConfig{URL: "http://sms.example/?to={to}&text={text}"}},
		"sms no to":                {SMS: &SMSConfig{URL: "https://sms.example/?text={text}"}},
		"sms method":               {SMS: &SMSConfig{URL: "https://sms.example/?to={to}", Method: "PUT"}},
		"sms body with GET":        {SMS: &SMSConfig{URL: "https://sms.example/", Body: "to={to}"}},
		"sms header with newline":  {SMS: &SMSConfig{URL: "https://sms.example/?to={to}", AuthHeader: "X-Key", AuthValue: "a\r\nX-Other: b"}},
		"sms password in url":      {SMS: &SMSConfig{URL: "https://u:p@sms.example/?to={to}"}},
	} {
		if n, err := New(cfg, nil, nil); err == nil {
			n.Close()
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
}
