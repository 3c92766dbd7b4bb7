package password

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheck(t *testing.T) {
	ctx := []string{"anna.svensson@vardcentralen.example", "Anna Svensson"}
	tests := []struct {
		pw  string
		err error
	}{
		// Accepted.
		{"correct horse battery staple", nil},
		{"kanelbulle-cykel-fönster", nil},
		{"Tr0ub4dor&3xyz", nil},
		{"monkey8271940362", nil}, // a common stem, but ten random digits
		{"839201746352", nil},     // random digits
		{"åäöåäöxyzqwp", nil},
		{"jag gillar blåbär på morgonen", nil},
		{"sommarstugan vid sjön", nil},
		{strings.Repeat("kx9#", 2) + "rutabaga", nil},

		// Length.
		{"", ErrTooShort},
		{"short", ErrTooShort},
		{"elevenchars", ErrTooShort},
		{"åäöåäöåäöåä", ErrTooShort}, // 11 runes, 22 bytes
		{strings.Repeat("x9", 600), ErrTooLong},

		// Personal.
		{"anna.svensson2024", ErrPersonal},
		{"mySvenssonPassword", ErrPersonal},
		{"ANNA-is-the-best-nurse", ErrPersonal},

		// Common.
		{"password1234", ErrCommon},
		{"Password1234", ErrCommon},
		{"ilovemyfamily", ErrCommon},
		{"administrator", ErrCommon},
		{"4dm1n1str4t0r", ErrCommon},
		{"P@ssw0rd2024", ErrCommon},
		{"P@ssw0rd!!!!", ErrCommon},
		{"sommar2024!!", ErrCommon},
		{"Sommar2024!!", ErrCommon},
		{"2024!!sommar", ErrCommon},
		{"lösenord2024", ErrCommon},
		{"Losenord1234", ErrCommon},
		{"hammarby1891", ErrCommon},
		{"sommarsommar", ErrCommon},
		{"monkey1234567890", ErrCommon}, // predictable digits
		{"sunshine!!!!", ErrCommon},
		{"Stockholm123", ErrCommon},

		// Predictable.
		{"aaaaaaaaaaaa", ErrPredictable},
		{"111111111111", ErrCommon}, // on the list too,
		{"123456789012", ErrPredictable},
		{"abcdefghijkl", ErrPredictable},
		{"qwertyuiopas", ErrPredictable},
		{"1q2w3e4r5t6y7u", ErrCommon}, // on the list too
		{"1q2w3e4r5t6y7u8", ErrPredictable},
		{"zaq1xsw2cde3vfr4", ErrPredictable},
		{"!@#$%^&*()_+", ErrPredictable},
		{"asdfghjklöä'", ErrPredictable},
		{"hejhejhejhej", ErrPredictable},
		{"ab12ab12ab12", ErrPredictable},
		{"aaaabbbbcccc", ErrPredictable},
		{"987654321098", ErrPredictable},
	}
	for _, tt := range tests {
		if err := Check(tt.pw, ctx...); !errors.Is(err, tt.err) {
			t.Errorf("Check(%q) = %v, want %v", tt.pw, err, tt.err)
		}
	}
}

func TestCheckContextEdges(t *testing.T) {
	// Short names are matched whole only, so "Li" does not forbid every
	// password with "li" in it; empty context changes nothing.
	if err := Check("limerick-volcano-tapestry", "Li", "", "  ", "li@x.se"); err != nil {
		t.Errorf("short context: %v", err)
	}
	if err := Check("the-eva-way-of-life", "eva@example.se"); !errors.Is(err, ErrPersonal) {
		t.Errorf("three-letter local part: %v", err)
	}
	if err := Check("vardcentralen-rules", "Vårdcentralen Norr"); !errors.Is(err, ErrPersonal) {
		t.Errorf("clinic name as context: %v", err)
	}
	if err := Check("jöns-tre-blomkål", "Jons Karlsson"); !errors.Is(err, ErrPersonal) {
		t.Errorf("folded name: %v", err)
	}
}

func TestLists(t *testing.T) {
	for name, list := range map[string]string{"common": commonList, "swedish": swedishList} {
		if !strings.HasSuffix(list, "\n") {
			t.Fatalf("%s: no final newline", name)
		}
		lines := strings.Split(strings.TrimSuffix(list, "\n"), "\n")
		if name == "common" && len(lines) < 19000 {
			t.Fatalf("common: %d entries", len(lines))
		}
		for i, w := range lines {
			if w == "" || w != strings.ToLower(w) || !utf8.ValidString(w) || strings.ContainsRune(w, '\r') {
				t.Fatalf("%s line %d: %q", name, i+1, w)
			}
			if i > 0 && lines[i-1] >= w {
				t.Fatalf("%s line %d: %q not after %q", name, i+1, w, lines[i-1])
			}
			if !inSorted(list, w) {
				t.Fatalf("%s: %q not found", name, w)
			}
			if inSorted(list, w+"\x00") || inSorted(list, w[:len(w)-1]+"\x00") {
				t.Fatalf("%s: found a word not on the list near %q", name, w)
			}
		}
	}
	if inSorted("", "x") || inSorted("a\n", "") {
		t.Error("edge cases")
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{"correct horse battery staple", "sommar2024!!", "qwertyuiopas", "åäö", "\xff\xfe", "anna.svensson"} {
		f.Add(s, "anna.svensson@example.se")
	}
	f.Fuzz(func(t *testing.T, pw, ctx string) {
		err := Check(pw, ctx)
		if err == nil && (utf8.RuneCountInString(pw) < MinRunes || len(pw) > MaxBytes) {
			t.Fatalf("Check(%q) accepted a bad length", pw)
		}
		if err != nil && !errors.Is(err, ErrTooShort) && !errors.Is(err, ErrTooLong) && !errors.Is(err, ErrCommon) &&
			!errors.Is(err, ErrPredictable) && !errors.Is(err, ErrPersonal) {
			t.Fatalf("Check(%q): unknown error %v", pw, err)
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	for b.Loop() {
		Check("correct horse battery staple", "anna.svensson@example.se", "Anna Svensson")
	}
}
