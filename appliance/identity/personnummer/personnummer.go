// Package personnummer parses and validates Swedish personal identity
// numbers (personnummer) and coordination numbers (samordningsnummer).
//
// Accepted input, with surrounding spaces trimmed:
//
//	YYYYMMDD-XXXX   YYYYMMDDXXXX          twelve digits, century explicit
//	YYMMDD-XXXX     YYMMDDXXXX            ten digits, younger than 100
//	YYMMDD+XXXX                           ten digits, 100 years or older
//
// A ten-digit number's century follows Skatteverket's rule for the
// separator: '-' (or none) means the person turns at most 99 in the
// current year, '+' that they turn 100 or more. So YY is resolved to the
// latest year not after now's year, and '+' takes 100 years off that. A
// number written without its separator loses the '+', which cannot be
// recovered; ask centenarians for all twelve digits.
//
// Checks: a real calendar date (leap years included; for a coordination
// number the day has 60 added), the Luhn check digit over the ten-digit
// form, and a birth date not after now.
//
// A Number never shows itself whole by accident: String, %v, %d, %#v and
// friends print the masked form "YYYYMMDD-****", and slog prints
// "[personnummer]". Digits gives the canonical twelve digits for storage and
// Display the full "YYYYMMDD-XXXX" for a page that must show it.
package personnummer

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Errors returned by Parse. Each is a separate value so that a form can
// map it to a message in the reader's language with errors.Is; the English
// text is fit to show as it is.
var (
	ErrFormat   = errors.New("personal identity number: write it as YYYYMMDD-XXXX or YYMMDD-XXXX")
	ErrDate     = errors.New("personal identity number: the date of birth is not a real date")
	ErrChecksum = errors.New("personal identity number: the last digit does not match, check for a typing mistake")
	ErrFuture   = errors.New("personal identity number: the date of birth is in the future")
)

// Number is a validated personnummer or samordningsnummer. It is a
// comparable value; the zero Number is not valid (see IsZero).
type Number struct {
	// d holds the canonical twelve ASCII digits: YYYYMMDD (with the day
	// +60 for a coordination number), three serial digits, the check
	// digit.
	d [12]byte
}

// Parse validates s and returns its Number. now resolves two-digit years
// and bounds the birth date; pass time.Now() outside tests. Only now's
// calendar date (in now's location) is used.
func Parse(s string, now time.Time) (Number, error) {
	s = strings.TrimSpace(s)
	var sep byte
	var digits string
	switch len(s) {
	case 13, 11: // with separator
		sep = s[len(s)-5]
		if sep != '-' && sep != '+' {
			return Number{}, ErrFormat
		}
		if len(s) == 13 && sep == '+' {
			// The twelve-digit form has its century and never a '+'.
			return Number{}, ErrFormat
		}
		digits = s[:len(s)-5] + s[len(s)-4:]
	case 12, 10:
		digits = s
	default:
		return Number{}, ErrFormat
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return Number{}, ErrFormat
		}
	}

	ny, nm, nd := now.Date()
	var n Number
	if len(digits) == 12 {
		copy(n.d[:], digits)
	} else {
		yy := atoi(digits[0:2])
		year := ny - mod(ny-yy, 100)
		if sep == '+' {
			year -= 100
		}
		if year < 0 {
			// Only with a now in the first century; nobody alive.
			return Number{}, ErrDate
		}
		copy(n.d[:], fmt.Sprintf("%04d", year))
		copy(n.d[4:], digits[2:])
	}

	year, month, day := atoi(string(n.d[0:4])), atoi(string(n.d[4:6])), atoi(string(n.d[6:8]))
	if day > 60 {
		day -= 60
	}
	if !validDate(year, month, day) {
		return Number{}, ErrDate
	}
	if !luhn(n.d[2:]) {
		return Number{}, ErrChecksum
	}
	if dateAfter(year, month, day, ny, int(nm), nd) {
		return Number{}, ErrFuture
	}
	return n, nil
}

// IsZero reports whether n is the zero Number, one that Parse never
// returns.
func (n Number) IsZero() bool { return n == Number{} }

// Digits is the canonical twelve-digit form "YYYYMMDDXXXX", for storage
// and for parsing again. Handle it as personal data: never log it.
func (n Number) Digits() string {
	if n.IsZero() {
		return ""
	}
	return string(n.d[:])
}

// Display is the full "YYYYMMDD-XXXX", for showing to a person who may see
// it.
func (n Number) Display() string {
	if n.IsZero() {
		return ""
	}
	return string(n.d[:8]) + "-" + string(n.d[8:])
}

// Masked is "YYYYMMDD-****": the date of birth shows, the last four digits
// do not.
func (n Number) Masked() string {
	if n.IsZero() {
		return ""
	}
	return string(n.d[:8]) + "-****"
}

// String returns the masked form, so that printing a Number by mistake
// does not leak it.
func (n Number) String() string { return n.Masked() }

// GoString returns the masked form too, for %#v.
func (n Number) GoString() string { return fmt.Sprintf("personnummer.Number(%q)", n.Masked()) }

// Format makes every fmt verb print the masked form; without it %d or %x
// would print the digits held inside.
func (n Number) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		fmt.Fprint(f, n.GoString())
		return
	}
	fmt.Fprint(f, n.Masked())
}

// LogValue keeps the number out of logs altogether: not even the date of
// birth is logged. Log an internal id instead.
func (n Number) LogValue() slog.Value { return slog.StringValue("[personnummer]") }

// BirthDate is the date of birth at midnight UTC. For a coordination
// number the 60 added to the day is taken off.
func (n Number) BirthDate() time.Time {
	y, m, d := n.date()
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
}

// IsCoordinationNumber reports whether n is a samordningsnummer (day of
// birth + 60), given to people who are not or not yet registered in
// Sweden.
func (n Number) IsCoordinationNumber() bool { return atoi(string(n.d[6:8])) > 60 }

// Gender is the legal gender recorded in the number, for aggregated
// statistics only.
type Gender int

const (
	Female Gender = iota + 1
	Male
)

func (g Gender) String() string {
	switch g {
	case Female:
		return "female"
	case Male:
		return "male"
	}
	return "unknown"
}

// Gender comes from the second-to-last digit: odd for male, even for
// female. Use it only in aggregated statistics.
func (n Number) Gender() Gender {
	if n.IsZero() {
		return 0
	}
	if (n.d[10]-'0')%2 == 1 {
		return Male
	}
	return Female
}

// Age is the age in whole years on now's calendar date. Someone born on
// 29 February turns a year older on 1 March in common years.
func (n Number) Age(now time.Time) int {
	by, bm, bd := n.date()
	ny, nm, nd := now.Date()
	age := ny - by
	if int(nm) < bm || (int(nm) == bm && nd < bd) {
		age--
	}
	return age
}

// Age bands for anonymous statistics.
const (
	Band0to17  = "0-17"
	Band18to29 = "18-29"
	Band30to44 = "30-44"
	Band45to64 = "45-64"
	Band65Plus = "65+"
)

// AgeBand is the band of Age(now): "0-17", "18-29", "30-44", "45-64" or
// "65+".
func (n Number) AgeBand(now time.Time) string {
	switch a := n.Age(now); {
	case a < 18:
		return Band0to17
	case a < 30:
		return Band18to29
	case a < 45:
		return Band30to44
	case a < 65:
		return Band45to64
	default:
		return Band65Plus
	}
}

func (n Number) date() (year, month, day int) {
	year, month, day = atoi(string(n.d[0:4])), atoi(string(n.d[4:6])), atoi(string(n.d[6:8]))
	if day > 60 {
		day -= 60
	}
	return
}

// atoi converts a string of ASCII digits already checked by the caller.
func atoi(s string) int {
	v := 0
	for i := 0; i < len(s); i++ {
		v = v*10 + int(s[i]-'0')
	}
	return v
}

func mod(a, m int) int {
	r := a % m
	if r < 0 {
		r += m
	}
	return r
}

func validDate(y, m, d int) bool {
	if m < 1 || m > 12 || d < 1 {
		return false
	}
	// time.Date normalises overflow (31 April becomes 1 May): a date is
	// real when it survives the round trip.
	t := time.Date(y, time.Month(m), d, 12, 0, 0, 0, time.UTC)
	return t.Year() == y && int(t.Month()) == m && t.Day() == d
}

func dateAfter(y1, m1, d1, y2, m2, d2 int) bool {
	if y1 != y2 {
		return y1 > y2
	}
	if m1 != m2 {
		return m1 > m2
	}
	return d1 > d2
}

// luhn checks the ten digits YYMMDDNNNC: from the left, weights 2,1,2,1…,
// the digits of each product summed, the total a multiple of ten.
func luhn(ten []byte) bool {
	sum := 0
	for i, c := range ten {
		v := int(c - '0')
		if i%2 == 0 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
