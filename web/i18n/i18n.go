// Package i18n picks the page language (the user's choice, then the
// browser's Accept-Language, then Swedish) and looks up texts in the
// catalogs under web/ui/i18n.
package i18n

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Supported languages, the default first: the box is installed in Swedish
// clinics.
var supported = []string{"sv", "en"}

// CookieName holds the user's explicit choice until accounts store it.
const CookieName = "lang"

// Catalogs holds the texts of every supported language.
type Catalogs struct {
	byLang map[string]map[string]string
}

// Load reads the catalogs of every supported language from dir in fsys:
// <lang>.json and any <area>.<lang>.json (one file per feature keeps
// translations of different features apart). A key defined twice is an
// error, and every language must have the same keys, so a missing
// translation is found by the tests and not by a user.
func Load(fsys fs.FS, dir string) (*Catalogs, error) {
	c := &Catalogs{byLang: map[string]map[string]string{}}
	for _, lang := range supported {
		files, err := fs.Glob(fsys, dir+"/*"+lang+".json")
		if err != nil {
			return nil, fmt.Errorf("i18n: %w", err)
		}
		m := map[string]string{}
		for _, name := range files {
			base := strings.TrimPrefix(name, dir+"/")
			if base != lang+".json" && !strings.HasSuffix(base, "."+lang+".json") {
				continue
			}
			b, err := fs.ReadFile(fsys, name)
			if err != nil {
				return nil, fmt.Errorf("i18n: %w", err)
			}
			part := map[string]string{}
			if err := json.Unmarshal(b, &part); err != nil {
				return nil, fmt.Errorf("i18n: %s: %w", base, err)
			}
			for k, v := range part {
				if _, dup := m[k]; dup {
					return nil, fmt.Errorf("i18n: %s: key %q is defined twice", base, k)
				}
				m[k] = v
			}
		}
		if len(m) == 0 {
			return nil, fmt.Errorf("i18n: no catalog for %s in %s", lang, dir)
		}
		c.byLang[lang] = m
	}
	base := c.byLang[supported[0]]
	for _, lang := range supported[1:] {
		if missing := diff(base, c.byLang[lang]); len(missing) > 0 {
			return nil, fmt.Errorf("i18n: %s.json lacks %s", lang, strings.Join(missing, ", "))
		}
		if missing := diff(c.byLang[lang], base); len(missing) > 0 {
			return nil, fmt.Errorf("i18n: %s.json lacks %s", supported[0], strings.Join(missing, ", "))
		}
	}
	return c, nil
}

func diff(a, b map[string]string) []string {
	var out []string
	for k := range a {
		if _, ok := b[k]; !ok {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Localizer is one language's view of the catalogs, handed to templates.
type Localizer struct {
	Code  string
	texts map[string]string
}

// For returns the localizer of lang, or of the default language.
func (c *Catalogs) For(lang string) *Localizer {
	m, ok := c.byLang[lang]
	if !ok {
		lang = supported[0]
		m = c.byLang[lang]
	}
	return &Localizer{Code: lang, texts: m}
}

// T returns the text for key. An unknown key shows itself, which the
// catalog tests catch, rather than an empty string a user cannot report.
func (l *Localizer) T(key string) string {
	if s, ok := l.texts[key]; ok {
		return s
	}
	return key
}

// Steps splits a text whose parts are separated by '|' (numbered steps).
func (l *Localizer) Steps(key string) []string {
	return strings.Split(l.T(key), "|")
}

// Other is the language the switch link offers.
func (l *Localizer) Other() string {
	if l.Code == "sv" {
		return "en"
	}
	return "sv"
}

// Supported reports whether lang is one of ours.
func Supported(lang string) bool {
	for _, s := range supported {
		if s == lang {
			return true
		}
	}
	return false
}

// Negotiate picks the language for a request: ?lang= (an explicit switch),
// then the lang cookie, then Accept-Language, then the default. It returns
// whether the choice came from ?lang=, so the caller can remember it.
func Negotiate(r *http.Request) (lang string, explicit bool) {
	if q := r.URL.Query().Get("lang"); Supported(q) {
		return q, true
	}
	if c, err := r.Cookie(CookieName); err == nil && Supported(c.Value) {
		return c.Value, false
	}
	if l := FromAcceptLanguage(r.Header.Get("Accept-Language")); l != "" {
		return l, false
	}
	return supported[0], false
}

// FromAcceptLanguage returns the supported language with the highest
// q-value in an Accept-Language header, or "" when none matches.
// Norwegian and Danish readers get Swedish: closer than English for most.
func FromAcceptLanguage(header string) string {
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				continue
			}
			q = f
		}
		primary, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		switch primary {
		case "no", "nb", "nn", "da":
			primary = "sv"
			q -= 0.001 // a real Swedish or English preference wins at equal q
		}
		if Supported(primary) && q > bestQ {
			best, bestQ = primary, q
		}
	}
	return best
}
