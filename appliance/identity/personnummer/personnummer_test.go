package personnummer

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var now = time.Date(2026, time.March, 15, 10, 0, 0, 0, time.UTC)

// withCheck appends the Luhn check digit to nine digits YYMMDDNNN.
func withCheck(nine string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn([]byte(nine + string(c))) {
			return nine + string(c)
		}
	}
	panic("unreachable")
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		digits string
		err    error
	}{
		{"twelve with dash", "19121212-1212", "191212121212", nil},
		{"twelve plain", "191212121212", "191212121212", nil},
		{"ten with dash", "811218-9876", "198112189876", nil},
		{"ten plain", "8112189876", "198112189876", nil},
		{"spaces trimmed", "  811218-9876 \t", "198112189876", nil},
		{"ten plus is 100 or older", "121212+1212", "191212121212", nil},
		{"ten dash 1912 is read as 2012", "121212-1212", "201212121212", nil},
		{"coordination number", "701063-2391", "197010632391", nil},
		{"coordination twelve", "197010632391", "197010632391", nil},
		{"leap day 2000", "20000229-" + withCheck("000229123")[6:], "20000229" + withCheck("000229123")[6:], nil},
		{"leap day coordination", "20000289-" + withCheck("000289123")[6:], "20000289" + withCheck("000289123")[6:], nil},
		{"born today", withCheck("260315123"), "20" + withCheck("260315123"), nil},
		{"this year, earlier", withCheck("260101123"), "20" + withCheck("260101123"), nil},

		{"empty", "", "", ErrFormat},
		{"letters", "19121212-12a2", "", ErrFormat},
		{"too short", "1212121212-1", "", ErrFormat},
		{"eleven digits", "19121212121", "", ErrFormat},
		{"separator misplaced", "1912121-21212", "", ErrFormat},
		{"other separator", "191212 121212", "", ErrFormat},
		{"plus in twelve", "19121212+1212", "", ErrFormat},
		{"inner space", "811218 9876", "", ErrFormat},
		{"unicode digits", "８１１２１８-９８７６", "", ErrFormat},
		{"double separator", "811218--9876", "", ErrFormat},

		{"month 13", withCheck("811318987"), "", ErrDate},
		{"month 0", withCheck("810018987"), "", ErrDate},
		{"day 0", withCheck("811200987"), "", ErrDate},
		{"31 April", withCheck("810431987"), "", ErrDate},
		{"29 Feb common year", withCheck("810229987"), "", ErrDate},
		{"29 Feb 1900 not leap", "19000229" + withCheck("000229987")[6:], "", ErrDate},
		{"day 60 coordination of day 0", withCheck("811260987"), "", ErrDate},
		{"day 32", withCheck("811232987"), "", ErrDate},
		{"coordination 31 April", withCheck("810491987"), "", ErrDate},

		{"check digit", "811218-9875", "", ErrChecksum},
		{"check digit twelve", "191212121213", "", ErrChecksum},

		{"tomorrow", withCheck("260316123"), "", ErrFuture},
		{"twelve future", "2030" + withCheck("300101123")[2:], "", ErrFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Parse(tt.in, now)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Parse(%q) error = %v, want %v", tt.in, err, tt.err)
			}
			if got := n.Digits(); got != tt.digits {
				t.Fatalf("Parse(%q).Digits() = %q, want %q", tt.in, got, tt.digits)
			}
		})
	}
}

func TestCentury(t *testing.T) {
	// A born-2026 YY resolves relative to now; the same digits read a
	// century apart.
	tests := []struct {
		in   string
		now  time.Time
		year int
	}{
		{"811218-9876", now, 1981},
		{"811218+9876", now, 1881},
		{"000101-" + withCheck("000101123")[6:], now, 2000},
		{"000101+" + withCheck("000101123")[6:], now, 1900},
		{"270101-" + withCheck("270101123")[6:], now, 1927},
		{"270101-" + withCheck("270101123")[6:], time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 2027},
		{"990101-" + withCheck("990101123")[6:], time.Date(1999, 6, 1, 0, 0, 0, 0, time.UTC), 1999},
	}
	for _, tt := range tests {
		n, err := Parse(tt.in, tt.now)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if got := n.BirthDate().Year(); got != tt.year {
			t.Errorf("Parse(%q, %v) year = %d, want %d", tt.in, tt.now.Format(time.DateOnly), got, tt.year)
		}
	}
}

func TestAccessors(t *testing.T) {
	n, err := Parse("701063-2391", now)
	if err != nil {
		t.Fatal(err)
	}
	if !n.IsCoordinationNumber() {
		t.Error("701063-2391 is a coordination number")
	}
	if want := time.Date(1970, 10, 3, 0, 0, 0, 0, time.UTC); !n.BirthDate().Equal(want) {
		t.Errorf("BirthDate = %v, want %v", n.BirthDate(), want)
	}
	if n.Gender() != Male {
		t.Errorf("Gender = %v, want male (9 is odd)", n.Gender())
	}
	if got := n.Display(); got != "19701063-2391" {
		t.Errorf("Display = %q", got)
	}
	if got := n.Masked(); got != "19701063-****" {
		t.Errorf("Masked = %q", got)
	}

	f, err := Parse("19121212-1222", now)
	if err == nil {
		t.Fatalf("expected a check-digit error for %v", f)
	}
	f, err = Parse(withCheck("850704124"), now)
	if err != nil {
		t.Fatal(err)
	}
	if f.Gender() != Female || f.IsCoordinationNumber() {
		t.Errorf("Gender = %v, coordination = %v", f.Gender(), f.IsCoordinationNumber())
	}
	if (Number{}).Gender().String() != "unknown" || !(Number{}).IsZero() || f.IsZero() {
		t.Error("zero Number")
	}
}

func TestAge(t *testing.T) {
	tests := []struct {
		birth string // YYYYMMDD
		now   time.Time
		age   int
		band  string
	}{
		{"20260315", now, 0, "0-17"},
		{"20080316", now, 17, "0-17"},
		{"20080315", now, 18, "18-29"},
		{"19960315", now, 30, "30-44"},
		{"19960316", now, 29, "18-29"},
		{"19810315", now, 45, "45-64"},
		{"19610315", now, 65, "65+"},
		{"19610316", now, 64, "45-64"},
		{"19000101", now, 126, "65+"},
		{"20000229", time.Date(2018, 2, 28, 0, 0, 0, 0, time.UTC), 17, "0-17"},
		{"20000229", time.Date(2018, 3, 1, 0, 0, 0, 0, time.UTC), 18, "18-29"},
		{"20000229", time.Date(2020, 2, 29, 0, 0, 0, 0, time.UTC), 20, "18-29"},
	}
	for _, tt := range tests {
		n, err := Parse(tt.birth+withCheck(tt.birth[2:] + "123")[6:], tt.now)
		if err != nil {
			t.Fatalf("%s: %v", tt.birth, err)
		}
		if got := n.Age(tt.now); got != tt.age {
			t.Errorf("%s on %v: age %d, want %d", tt.birth, tt.now.Format(time.DateOnly), got, tt.age)
		}
		if got := n.AgeBand(tt.now); got != tt.band {
			t.Errorf("%s on %v: band %q, want %q", tt.birth, tt.now.Format(time.DateOnly), got, tt.band)
		}
	}
}

// TestNoLeak prints a Number every way we can think of; the last four
// digits must never appear.
func TestNoLeak(t *testing.T) {
	n, err := Parse("811218-9876", now)
	if err != nil {
		t.Fatal(err)
	}
	type wrapper struct{ N Number }
	outs := []string{
		n.String(),
		fmt.Sprint(n), fmt.Sprintf("%v %+v %#v %s %q %d %x %X %10s", n, n, n, n, n, n, n, n, n),
		fmt.Sprintf("%v %+v %#v", wrapper{n}, wrapper{n}, &wrapper{n}),
		fmt.Sprint(&n), fmt.Sprint([]Number{n}),
	}
	for _, s := range outs {
		if strings.Contains(s, "9876") {
			t.Errorf("leaked: %s", s)
		}
	}

	var buf bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&buf, nil), slog.NewJSONHandler(&buf, nil)} {
		slog.New(h).Info("patient", "pnr", n, "ptr", &n)
	}
	if s := buf.String(); strings.Contains(s, "9876") || strings.Contains(s, "1218") {
		t.Errorf("log leaked: %s", s)
	}
	if !strings.Contains(buf.String(), "[personnummer]") {
		t.Errorf("log = %s", buf.String())
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"19121212-1212", "811218-9876", "121212+1212", "8112189876", "701063-2391", " 191212121212 ", "", "000229-0000", "+", "----------"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s, now)
		if err != nil {
			if !n.IsZero() {
				t.Fatalf("error %v with non-zero Number", err)
			}
			return
		}
		if n.IsZero() {
			t.Fatal("zero Number without error")
		}
		for _, again := range []string{n.Digits(), n.Display()} {
			m, err := Parse(again, now)
			if err != nil || m != n {
				t.Fatalf("Parse(%q) ok; Parse(%q) = %v, %v", s, again, m.Display(), err)
			}
		}
		if n.BirthDate().After(now) {
			t.Fatalf("future birth date %v", n.BirthDate())
		}
		if len(n.Digits()) != 12 || n.Masked()[:8] != n.Digits()[:8] {
			t.Fatalf("bad forms %q %q", n.Digits(), n.Masked())
		}
	})
}
