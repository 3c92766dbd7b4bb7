package password

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits for a new password. MinRunes counts characters, so "å" is
// one; MaxBytes bounds the work a login can ask of the hasher.
const (
	MinRunes = 12
	MaxBytes = 1024
)

// Errors returned by Check, one per rule, so that a form can map each to
// a message in the reader's language; the English text is fit to show.
var (
	ErrTooShort    = errors.New("password: use at least 12 characters")
	ErrTooLong     = errors.New("password: use at most 1024 bytes (about 1000 characters)")
	ErrCommon      = errors.New("password: this is one of the most common passwords, or one with only digits or symbols added; choose another")
	ErrPredictable = errors.New("password: this is too easy to guess (a repeated character, a sequence such as 123456 or a keyboard row such as qwerty)")
	ErrPersonal    = errors.New("password: do not use your name or e-mail address in your password")
)

// Check reports whether pw may be set as a new password, nil if so. The
// rules, in the order tested:
//
//   - at most MaxBytes bytes and at least MinRunes characters;
//   - none of context in it: pass the user's e-mail address and names.
//     Each whole value (an e-mail address as its local part) of three or
//     more characters, and each of its words of four or more, must not
//     appear in pw, ignoring case;
//   - not a common password (see common.go), even with leetspeak undone
//     (p@ssw0rd), repeated (hejhejhejhej), or with a short or predictable
//     run of digits and symbols before or after (Sommar2024!!);
//   - not predictable: made of a few long runs of one character,
//     alphabetic or numeric sequences or keyboard walks (123456789012,
//     qwertyuiopas, 1q2w3e4r5t6y), or a short piece repeated three times
//     or more.
//
// Check does not ask for digits or capitals: length does more, and a
// passphrase of ordinary words is welcome.
func Check(pw string, context ...string) error {
	if len(pw) > MaxBytes {
		return ErrTooLong
	}
	if utf8.RuneCountInString(pw) < MinRunes {
		return ErrTooShort
	}
	lower := strings.ToLower(pw)
	if containsPersonal(lower, context) {
		return ErrPersonal
	}
	if isCommon(lower) {
		return ErrCommon
	}
	if predictable(lower) {
		return ErrPredictable
	}
	return nil
}

func containsPersonal(lower string, context []string) bool {
	for _, c := range context {
		c = strings.ToLower(strings.TrimSpace(c))
		if at := strings.LastIndexByte(c, '@'); at >= 0 {
			c = c[:at]
		}
		if utf8.RuneCountInString(c) >= 3 && strings.Contains(lower, c) {
			return true
		}
		for _, w := range strings.FieldsFunc(c, notAlnum) {
			if utf8.RuneCountInString(w) >= 4 && (strings.Contains(lower, w) || strings.Contains(fold(lower), fold(w))) {
				return true
			}
		}
	}
	return false
}

// isCommon looks pw up on the lists as it is, and its stem: pw with a
// short or predictable prefix and suffix of non-letters cut off, with
// leetspeak undone, and the unit of a repetition.
func isCommon(lower string) bool {
	if lookup(lower) {
		return true
	}
	// The stem, when what was cut off adds little.
	start, end := stem(lower)
	core, affix := lower[start:end], lower[:start]+lower[end:]
	if affix != "" && weakAffix(affix) && utf8.RuneCountInString(core) >= 4 && lookup(core) {
		return true
	}
	// A word written twice or more ("sommarsommar", "hejhejhejhej").
	if unit := repeatedUnit(core); unit != "" && utf8.RuneCountInString(unit) >= 3 && lookup(unit) {
		return true
	}
	return false
}

// lookup tries w, its å/ä/ö-folded form and its de-leeted forms.
func lookup(w string) bool {
	for _, v := range [...]string{w, fold(w), unleet(w, 'i'), unleet(w, 'l')} {
		if common(v) {
			return true
		}
	}
	return false
}

// stem returns the bounds of lower without its leading and trailing
// non-letters.
func stem(lower string) (start, end int) {
	trimmed := strings.TrimLeftFunc(lower, notLetter)
	start = len(lower) - len(trimmed)
	end = start + len(strings.TrimRightFunc(trimmed, notLetter))
	return start, end
}

// weakAffix: six or fewer characters (a year and two symbols), or a
// predictable run such as 1234567890.
func weakAffix(a string) bool {
	return utf8.RuneCountInString(a) <= 6 || predictable(a)
}

func notLetter(r rune) bool { return !unicode.IsLetter(r) }
func notAlnum(r rune) bool  { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// fold maps the Swedish and a few other accented letters to the ASCII
// that people type instead: the lists hold ASCII only.
func fold(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case 'å', 'ä', 'á', 'à', 'â':
			return 'a'
		case 'ö', 'ø', 'ó', 'ò', 'ô':
			return 'o'
		case 'é', 'è', 'ê', 'ë':
			return 'e'
		case 'ü', 'ú':
			return 'u'
		}
		return r
	}, s)
}

// unleet undoes the common letter-for-symbol swaps; one is read as one.
func unleet(s string, one rune) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '0':
			return 'o'
		case '1':
			return one
		case '3':
			return 'e'
		case '4', '@':
			return 'a'
		case '5', '$':
			return 's'
		case '7', '+':
			return 't'
		case '!':
			return 'i'
		}
		return r
	}, s)
}

// repeatedUnit returns u when s is u written twice or more, else "".
func repeatedUnit(s string) string {
	n := len(s)
	for k := 1; k <= n/2; k++ {
		if n%k == 0 && strings.Repeat(s[:k], n/k) == s && utf8.ValidString(s[:k]) {
			return s[:k]
		}
	}
	return ""
}

// predictable reports whether s is a short piece repeated three times or
// more, or is made of runs in which each character follows from the one
// before (the same key, the next letter or digit up or down, or a
// neighbouring key on a Swedish or US keyboard) with the runs four
// characters long on average.
func predictable(s string) bool {
	if u := repeatedUnit(s); u != "" && len(s)/len(u) >= 3 {
		return true
	}
	runes := []rune(s)
	runs := 1
	for i := 1; i < len(runes); i++ {
		if !follows(runes[i-1], runes[i]) {
			runs++
		}
	}
	return runs <= max(2, len(runes)/4)
}

func follows(a, b rune) bool {
	if a == b {
		return true
	}
	if d := a - b; (d == 1 || d == -1) && (isASCIIAlnum(a) && isASCIIAlnum(b)) &&
		(unicode.IsDigit(a) == unicode.IsDigit(b)) {
		return true
	}
	return adjacentKeys(a, b)
}

func isASCIIAlnum(r rune) bool {
	return r >= '0' && r <= '9' || r >= 'a' && r <= 'z'
}

// keyboards returns key rows, each one shifted half a key right of the
// row above: the key at column i touches columns i-1 and i of the row
// below and i and i+1 of the row above. Shifted rows are their own
// keyboard. (A function, not a variable: no package-level state.)
func keyboards() [4][4]string {
	return [4][4]string{
		{"1234567890+´", "qwertyuiopå¨", "asdfghjklöä'", "zxcvbnm,.-"}, // Swedish
		{"!\"#¤%&/()=?`", "QWERTYUIOPÅ^", "ASDFGHJKLÖÄ*", "ZXCVBNM;:_"},
		{"1234567890-=", "qwertyuiop[]", "asdfghjkl;'", "zxcvbnm,./"}, // US
		{"!@#$%^&*()_+", "QWERTYUIOP{}", "ASDFGHJKL:\"", "ZXCVBNM<>?"},
	}
}

// adjacentKeys reports whether a and b are neighbouring keys on one of
// the keyboards.
func adjacentKeys(a, b rune) bool {
	for _, kb := range keyboards() {
		ra, ca := findKey(kb, a)
		rb, cb := findKey(kb, b)
		if ra < 0 || rb < 0 {
			continue
		}
		switch rb - ra {
		case 0:
			if cb-ca == 1 || ca-cb == 1 {
				return true
			}
		case 1: // b on the row below
			if cb == ca || cb == ca-1 {
				return true
			}
		case -1: // b on the row above
			if cb == ca || cb == ca+1 {
				return true
			}
		}
	}
	return false
}

func findKey(kb [4]string, r rune) (row, col int) {
	for i, line := range kb {
		c := 0
		for _, k := range line {
			if k == r {
				return i, c
			}
			c++
		}
	}
	return -1, -1
}
