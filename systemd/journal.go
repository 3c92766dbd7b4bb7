package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// UnderJournal reports whether stderr is connected to journald, as it is for
// a service started by systemd with the default StandardError=journal: the
// JOURNAL_STREAM variable names stderr's device and inode. Then `clinicbox
// serve` should log through NewJournalHandler rather than a text handler.
func UnderJournal() bool {
	ok, err := journal.StderrIsJournalStream()
	return err == nil && ok
}

// NewJournalHandler returns a slog.Handler that sends each record to the
// local journald over its native protocol (go-systemd's journal.Send):
//
//   - the message as MESSAGE, the level as PRIORITY (Debug 7, Info 6,
//     between Info and Warn 5, Warn 4, Error 3, Error+4 and above 2);
//   - each attribute as its own field: the key, prefixed by the open groups
//     joined with "_", upper-cased, with anything outside [A-Z0-9_] turned
//     into "_" and leading "_" dropped (journald reserves them), so
//     logger.WithGroup("http").Info("…", "status", 404) gives HTTP_STATUS=404
//     and "subsystem" gives SUBSYSTEM. A name starting with a digit gets an
//     "F" in front; names are cut at 64 bytes. An attribute that would
//     overwrite MESSAGE or PRIORITY is written as ATTR_MESSAGE, ATTR_PRIORITY;
//   - with AddSource, the caller as CODE_FILE, CODE_LINE and CODE_FUNC.
//
// journald stamps the time itself; the record's time is not sent.
// ReplaceAttr, if set, is called for attributes with the open groups, not
// for the built-in time, level, message and source. When several attributes
// map to one field name the last one wins. Query with
// `journalctl -u clinicbox SUBSYSTEM=media -o verbose`.
//
// Handle returns journal.Send's error when journald cannot be reached; use
// UnderJournal to choose this handler only where it can.
func NewJournalHandler(opts *slog.HandlerOptions) slog.Handler {
	h := &journalHandler{send: sendJournal}
	if opts != nil {
		h.opts = *opts
	}
	return h
}

// journalEntry is one record as it goes to journald, before field names
// are made. It is what tests look at instead of a running journald.
type journalEntry struct {
	time     time.Time
	message  string
	priority journal.Priority
	fields   []journalField // attributes in record order
	source   map[string]string
}

// journalField is one flattened attribute: the group names and key that
// lead to it, and its value as text.
type journalField struct {
	path  []string
	value string
}

type journalHandler struct {
	opts   slog.HandlerOptions
	groups []string       // groups opened by WithGroup, outermost first
	preset []journalField // attributes from WithAttrs, already qualified
	send   func(journalEntry) error
}

var _ slog.Handler = (*journalHandler)(nil)

func (h *journalHandler) Enabled(_ context.Context, l slog.Level) bool {
	minLevel := slog.LevelInfo
	if h.opts.Level != nil {
		minLevel = h.opts.Level.Level()
	}
	return l >= minLevel
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	h2.preset = slices.Clip(h.preset) // appends below must not share h's array
	for _, a := range attrs {
		h2.preset = h.flatten(h2.preset, h.groups, a)
	}
	return &h2
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), name)
	return &h2
}

func (h *journalHandler) Handle(_ context.Context, r slog.Record) error {
	return h.send(h.entry(r))
}

// entry turns a record into what is sent; it does no I/O.
func (h *journalHandler) entry(r slog.Record) journalEntry {
	e := journalEntry{
		time:     r.Time,
		message:  r.Message,
		priority: priority(r.Level),
		fields:   slices.Clip(h.preset),
	}
	r.Attrs(func(a slog.Attr) bool {
		e.fields = h.flatten(e.fields, h.groups, a)
		return true
	})
	if h.opts.AddSource && r.PC != 0 {
		f, _ := runtime.CallersFrames([]uintptr{r.PC}).Next()
		e.source = map[string]string{
			"CODE_FILE": f.File,
			"CODE_LINE": strconv.Itoa(f.Line),
			"CODE_FUNC": f.Function,
		}
	}
	return e
}

// flatten appends a, found inside groups, to dst as zero or more fields,
// following slog's rules: values are resolved, empty attributes and empty
// groups are dropped, a group with an empty key is inlined.
func (h *journalHandler) flatten(dst []journalField, groups []string, a slog.Attr) []journalField {
	a.Value = a.Value.Resolve()
	if a.Value.Kind() != slog.KindGroup && h.opts.ReplaceAttr != nil {
		a = h.opts.ReplaceAttr(slices.Clip(groups), a)
		a.Value = a.Value.Resolve()
	}
	if a.Equal(slog.Attr{}) {
		return dst
	}
	if a.Value.Kind() == slog.KindGroup {
		inner := groups
		if a.Key != "" {
			inner = append(slices.Clip(groups), a.Key)
		}
		for _, ga := range a.Value.Group() {
			dst = h.flatten(dst, inner, ga)
		}
		return dst
	}
	path := append(slices.Clip(groups), a.Key)
	return append(dst, journalField{path: path, value: valueText(a.Value)})
}

// valueText renders v as a journal field value.
func valueText(v slog.Value) string {
	switch v.Kind() {
	case slog.KindTime:
		return v.Time().Format(time.RFC3339Nano)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case error:
			return x.Error()
		case []byte:
			return string(x)
		case fmt.Stringer:
			return x.String()
		}
		return fmt.Sprintf("%+v", v.Any())
	}
	return v.String() // strings, numbers, bools, durations
}

// vars turns an entry into journal.Send's field map.
func (e journalEntry) vars() map[string]string {
	vars := make(map[string]string, len(e.fields)+len(e.source))
	for _, f := range e.fields {
		name := journalFieldName(f.path)
		if name == "MESSAGE" || name == "PRIORITY" {
			name = "ATTR_" + name
		}
		vars[name] = f.value
	}
	for k, v := range e.source {
		vars[k] = v
	}
	return vars
}

func sendJournal(e journalEntry) error {
	if err := journal.Send(e.message, e.priority, e.vars()); err != nil {
		return fmt.Errorf("systemd: journal: %w", err)
	}
	return nil
}

// maxFieldName is journald's limit on the length of a field name.
const maxFieldName = 64

// journalFieldName makes a journald field name from a group path and key:
// parts joined with "_", ASCII letters upper-cased, every other byte that is
// not a digit or "_" replaced by "_", leading "_" removed (journald keeps
// those for its trusted fields), "F" put before a leading digit, and the
// result cut to 64 bytes. A name left empty becomes "ATTR".
func journalFieldName(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 {
			b.WriteByte('_')
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			switch {
			case 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
				b.WriteByte(c)
			case 'a' <= c && c <= 'z':
				b.WriteByte(c - 'a' + 'A')
			default:
				b.WriteByte('_')
			}
		}
	}
	name := strings.TrimLeft(b.String(), "_")
	switch {
	case name == "":
		name = "ATTR"
	case name[0] >= '0' && name[0] <= '9':
		name = "F" + name
	}
	if len(name) > maxFieldName {
		name = name[:maxFieldName]
	}
	return name
}

// priority maps a slog level to a syslog priority.
func priority(l slog.Level) journal.Priority {
	switch {
	case l < slog.LevelInfo:
		return journal.PriDebug
	case l == slog.LevelInfo:
		return journal.PriInfo
	case l < slog.LevelWarn:
		return journal.PriNotice
	case l < slog.LevelError:
		return journal.PriWarning
	case l < slog.LevelError+4:
		return journal.PriErr
	default:
		return journal.PriCrit
	}
}
