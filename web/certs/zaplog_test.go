package certs

import "testing"

func TestScrubEmails(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"no address here": "no address here",
		"open /x/users/admin@clinic.se/a.json: no such file": "open /x/users/[redacted]/a.json: no such file",
		"a@b.c and d.e@f-g.example.":                         "[redacted] and [redacted].",
		"user@localhost stays":                               "user@localhost stays",
		"@clinic.se":                                         "@clinic.se",
	} {
		if got := scrubEmails(in); got != want {
			t.Errorf("scrubEmails(%q) = %q, want %q", in, got, want)
		}
	}
}
