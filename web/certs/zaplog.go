package certs

import (
	"context"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// CertMagic logs through zap; the rest of clinicbox logs through log/slog to
// journald. slogCore forwards CertMagic's records into the box's slog
// handler so that there is one log stream with one format.
//
// CertMagic is chatty at Info (every lock taken and released), and nobody at
// the clinic reads logs: its Info and Debug become slog Debug, while this
// package logs the events that matter (obtained, renewed, failed) itself.
// Warnings and errors keep their level.
type slogCore struct {
	h     slog.Handler
	attrs []slog.Attr
}

func newZapLogger(l *slog.Logger) *zap.Logger {
	return zap.New(&slogCore{h: l.Handler()})
}

// redacted reports CertMagic log fields that carry the ACME account's
// e-mail address; personal contact details never go to the log.
func redacted(key string) bool {
	switch key {
	case "email", "contact", "account", "account_contact":
		return true
	}
	return false
}

func slogLevel(l zapcore.Level) slog.Level {
	switch {
	case l <= zapcore.InfoLevel:
		return slog.LevelDebug
	case l == zapcore.WarnLevel:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (c *slogCore) Enabled(l zapcore.Level) bool {
	return c.h.Enabled(context.Background(), slogLevel(l))
}

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{h: c.h, attrs: append(slices.Clip(c.attrs), zapAttrs(fields)...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	r := slog.NewRecord(e.Time, slogLevel(e.Level), "certs: certmagic: "+scrubEmails(e.Message), 0)
	if e.LoggerName != "" {
		r.AddAttrs(slog.String("certmagic", e.LoggerName))
	}
	r.AddAttrs(c.attrs...)
	r.AddAttrs(zapAttrs(fields)...)
	return c.h.Handle(context.Background(), r)
}

func (c *slogCore) Sync() error { return nil }

func zapAttrs(fields []zapcore.Field) []slog.Attr {
	if len(fields) == 0 {
		return nil
	}
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range fields {
		if redacted(f.Key) {
			enc.AddString(f.Key, "[redacted]")
			continue
		}
		f.AddTo(enc)
	}
	keys := make([]string, 0, len(enc.Fields))
	for k := range enc.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys) // stable output for people reading the journal
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, scrubValue(enc.Fields[k])))
	}
	return attrs
}

// scrubValue removes e-mail addresses from the strings in a log value.
// Redacting fields by name is not enough: CertMagic's errors quote the
// account's storage path, which contains the address.
func scrubValue(v any) any {
	switch v := v.(type) {
	case string:
		return scrubEmails(v)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = scrubEmails(s)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = scrubValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = scrubValue(e)
		}
		return out
	}
	return v
}

// scrubEmails replaces anything shaped like local@domain.tld with
// "[redacted]".
func scrubEmails(s string) string {
	if !strings.Contains(s, "@") {
		return s
	}
	isLocal := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(".!#$%&'*+-=?^_`{|}~", c) >= 0
	}
	isDomain := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.'
	}
	var b strings.Builder
	last := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		start := i
		for start > last && isLocal(s[start-1]) {
			start--
		}
		end := i + 1
		for end < len(s) && isDomain(s[end]) {
			end++
		}
		domain := strings.TrimRight(s[i+1:end], ".")
		if start == i || !strings.Contains(domain, ".") {
			continue
		}
		end = i + 1 + len(domain)
		b.WriteString(s[last:start])
		b.WriteString("[redacted]")
		last = end
		i = end - 1
	}
	b.WriteString(s[last:])
	return b.String()
}
