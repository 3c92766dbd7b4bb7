package config

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Entry is one "name = value" line of a config file.
type Entry struct {
	Key   string
	Value string
	Line  int
}

// maxConfigLine bounds a line so a wrong file (a binary, a log) fails fast.
const maxConfigLine = 4096

// ParseFile reads a config file: one "name = value" per line, where name is
// a flag name without dashes. Blank lines and lines starting with # are
// ignored; a value may be wrapped in double quotes to keep surrounding
// spaces or a '#'. A name may repeat for list settings (hostname).
func ParseFile(r io.Reader, name string) ([]Entry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1024), maxConfigLine)
	var entries []Entry
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 {
			text = strings.TrimPrefix(text, "\uFEFF") // editors on Windows add a BOM
		}
		if !utf8.ValidString(text) {
			return nil, &FieldError{Field: "config", Msg: fmt.Sprintf("%s line %d is not UTF-8 text", name, line)}
		}
		text = strings.TrimSpace(text)
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		key, value, ok := strings.Cut(text, "=")
		if !ok {
			return nil, &FieldError{Field: "config", Msg: fmt.Sprintf("%s line %d: expected name = value", name, line)}
		}
		key = strings.TrimSpace(key)
		key = strings.TrimPrefix(key, "--")
		value = strings.TrimSpace(value)
		if key == "" {
			return nil, &FieldError{Field: "config", Msg: fmt.Sprintf("%s line %d: the setting name is missing before '='", name, line)}
		}
		if strings.HasPrefix(value, `"`) {
			if len(value) < 2 || !strings.HasSuffix(value, `"`) {
				return nil, &FieldError{Field: key, Source: fmt.Sprintf("config file %s line %d", name, line), Msg: "a quoted value must end with a quote"}
			}
			value = value[1 : len(value)-1]
		} else if i := strings.Index(value, " #"); i >= 0 {
			value = strings.TrimSpace(value[:i]) // trailing comment
		}
		entries = append(entries, Entry{Key: key, Value: value, Line: line})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, &FieldError{Field: "config", Msg: fmt.Sprintf("%s line %d is longer than %d bytes", name, line+1, maxConfigLine)}
		}
		return nil, &FieldError{Field: "config", Msg: fmt.Sprintf("reading %s: %v", name, err)}
	}
	return entries, nil
}
