package appliance

import (
	"io"
	"log/slog"

	"clinicbox/systemd"
)

// NewLogger builds the process logger: native journald fields under
// systemd (format auto or journal), text or JSON on stderr otherwise.
// Callers log internal ids only, never names, personnummer, contact
// details, message text or tokens.
func NewLogger(format, level string, stderr io.Writer) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	switch {
	case format == "journal" || format == "auto" && systemd.UnderJournal():
		h = systemd.NewJournalHandler(opts)
	case format == "json":
		h = slog.NewJSONHandler(stderr, opts)
	default:
		h = slog.NewTextHandler(stderr, opts)
	}
	return slog.New(h)
}
