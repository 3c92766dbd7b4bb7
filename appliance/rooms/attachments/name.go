package attachments

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameRunes is the longest display name kept.
const MaxNameRunes = 200

// cleanName makes the display name of an upload: the base name only
// (either kind of slash), without control and format characters (a
// right-to-left override can make "gpj.exe" look like "exe.jpg"), spaces
// collapsed, leading and trailing dots and spaces trimmed, at most
// MaxNameRunes characters, and an extension that matches the detected
// type: kept if it does, replaced (or added) if it does not.
func cleanName(declared string, f *format) string {
	s := strings.ToValidUTF8(declared, "")
	if i := strings.LastIndexAny(s, `/\`); i >= 0 {
		s = s[i+1:]
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		switch {
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError,
			unicode.Is(unicode.Co, r), unicode.Is(unicode.Cs, r):
			continue
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	stem, ext := splitExt(strings.Trim(b.String(), " ."))
	if !matchesExt(ext, f) {
		ext = f.exts[0]
	}
	if max := MaxNameRunes - utf8.RuneCountInString(ext); utf8.RuneCountInString(stem) > max {
		stem = string([]rune(stem)[:max])
	}
	stem = strings.TrimRight(stem, " .")
	if stem == "" {
		stem = "attachment"
	}
	return stem + ext
}

// splitExt splits "name.ext" where ext is 1 to 8 ASCII letters and
// digits; anything else has no extension.
func splitExt(s string) (stem, ext string) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || len(s)-i-1 < 1 || len(s)-i-1 > 8 {
		return s, ""
	}
	for _, c := range []byte(s[i+1:]) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return s, ""
		}
	}
	return s[:i], s[i:]
}

func matchesExt(ext string, f *format) bool {
	for _, e := range f.exts {
		if strings.EqualFold(ext, e) {
			return true
		}
	}
	return false
}
