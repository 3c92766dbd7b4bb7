package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"syscall"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
)

// captureJournal returns a journal handler whose entries are kept instead
// of sent, and a function returning the last one.
func captureJournal(opts *slog.HandlerOptions) (slog.Handler, func() (journalEntry, bool)) {
	var last journalEntry
	var got bool
	h := NewJournalHandler(opts).(*journalHandler)
	h.send = func(e journalEntry) error { last, got = e, true; return nil }
	return h, func() (journalEntry, bool) { return last, got }
}

func TestJournalFieldName(t *testing.T) {
	for _, tc := range []struct {
		path []string
		want string
	}{
		{[]string{"subsystem"}, "SUBSYSTEM"},
		{[]string{"http", "status"}, "HTTP_STATUS"},
		{[]string{"room_id"}, "ROOM_ID"},
		{[]string{"Room", "ID"}, "ROOM_ID"},
		{[]string{"remote.addr"}, "REMOTE_ADDR"},
		{[]string{"content-type"}, "CONTENT_TYPE"},
		{[]string{"_SYSTEMD_UNIT"}, "SYSTEMD_UNIT"}, // trusted fields cannot be forged
		{[]string{"__x"}, "X"},
		{[]string{"", "k"}, "K"},
		{[]string{"2fa"}, "F2FA"},
		{[]string{"grp", "2fa"}, "GRP_2FA"},
		{[]string{"användare"}, "ANV__NDARE"}, // each non-ASCII byte becomes "_"
		{[]string{"ü"}, "ATTR"},
		{[]string{""}, "ATTR"},
		{[]string{strings.Repeat("a", 70)}, strings.Repeat("A", 64)},
	} {
		got := journalFieldName(tc.path)
		if got != tc.want {
			t.Errorf("journalFieldName(%q) = %q, want %q", tc.path, got, tc.want)
		}
		if !validJournalName(got) {
			t.Errorf("journalFieldName(%q) = %q, which journald rejects", tc.path, got)
		}
	}
}

// validJournalName is journald's own rule (journal_field_valid in systemd).
func validJournalName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '_' || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

type roomID uint64

func (r roomID) LogValue() slog.Value { return slog.StringValue(fmt.Sprintf("room-%d", uint64(r))) }

// TestJournalFlattening: what a typical clinicbox log call becomes.
func TestJournalFlattening(t *testing.T) {
	h, last := captureJournal(&slog.HandlerOptions{Level: slog.LevelDebug})
	logger := slog.New(h).With("subsystem", "media").WithGroup("sfu").With("room", roomID(7))
	logger.Warn("track dropped",
		"tracks", 3,
		"elapsed", 1500*time.Millisecond,
		"err", errors.New("ice: timeout"),
		slog.Group("peer", "id", 42, slog.Bool("relay", true)),
		slog.Group("", "inline", "x"),
		slog.Group("empty"),
		slog.Attr{},
		"at", time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC),
		"message", "not the real one",
	)
	e, ok := last()
	if !ok {
		t.Fatal("nothing handled")
	}
	if e.message != "track dropped" || e.priority != journal.PriWarning {
		t.Errorf("message, priority = %q, %d; want %q, %d", e.message, e.priority, "track dropped", journal.PriWarning)
	}
	want := map[string]string{
		"SUBSYSTEM":      "media",
		"SFU_ROOM":       "room-7",
		"SFU_TRACKS":     "3",
		"SFU_ELAPSED":    "1.5s",
		"SFU_ERR":        "ice: timeout",
		"SFU_PEER_ID":    "42",
		"SFU_PEER_RELAY": "true",
		"SFU_INLINE":     "x",
		"SFU_AT":         "2026-03-01T12:00:00.000000005Z",
		"SFU_MESSAGE":    "not the real one",
	}
	got := e.vars() // AddSource is off: no CODE_* fields either
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("fields\n got %v\nwant %v", got, want)
	}
}

func TestJournalReservedNames(t *testing.T) {
	h, last := captureJournal(nil)
	slog.New(h).Info("real", "message", "fake", "priority", "0", "Priority", "1")
	e, _ := last()
	got := e.vars()
	if got["ATTR_MESSAGE"] != "fake" || got["ATTR_PRIORITY"] != "1" || got["MESSAGE"] != "" || got["PRIORITY"] != "" {
		t.Errorf("vars = %v; MESSAGE and PRIORITY must stay the handler's", got)
	}
}

func TestJournalPriority(t *testing.T) {
	for _, tc := range []struct {
		level slog.Level
		want  journal.Priority
	}{
		{slog.LevelDebug - 4, journal.PriDebug},
		{slog.LevelDebug, journal.PriDebug},
		{slog.LevelInfo - 1, journal.PriDebug},
		{slog.LevelInfo, journal.PriInfo},
		{slog.LevelInfo + 2, journal.PriNotice},
		{slog.LevelWarn, journal.PriWarning},
		{slog.LevelError, journal.PriErr},
		{slog.LevelError + 4, journal.PriCrit},
	} {
		if got := priority(tc.level); got != tc.want {
			t.Errorf("priority(%v) = %d, want %d", tc.level, got, tc.want)
		}
	}
}

func TestJournalLevelAndSource(t *testing.T) {
	h, last := captureJournal(&slog.HandlerOptions{Level: slog.LevelWarn, AddSource: true})
	logger := slog.New(h)
	logger.Info("below the level")
	if _, ok := last(); ok {
		t.Fatal("Info handled with Level: Warn")
	}
	logger.Error("boom")
	e, _ := last()
	v := e.vars()
	if !strings.HasSuffix(v["CODE_FILE"], "journal_test.go") || v["CODE_LINE"] == "" ||
		!strings.HasSuffix(v["CODE_FUNC"], "TestJournalLevelAndSource") {
		t.Errorf("source fields = %v", v)
	}
}

func TestJournalReplaceAttr(t *testing.T) {
	var seen []string
	h, last := captureJournal(&slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		seen = append(seen, strings.Join(append(groups, a.Key), "."))
		if a.Key == "token" {
			return slog.Attr{} // drop
		}
		if a.Key == "n" {
			a.Value = slog.IntValue(int(a.Value.Int64() * 2))
		}
		return a
	}})
	slog.New(h).WithGroup("g").Info("m", "token", "secret", "n", 21)
	e, _ := last()
	if got := fmt.Sprint(e.vars()); got != "map[G_N:42]" {
		t.Errorf("vars = %s, want map[G_N:42]", got)
	}
	if got := strings.Join(seen, " "); got != "g.token g.n" {
		t.Errorf("ReplaceAttr saw %q", got)
	}
}

// TestJournalSlogtest runs the standard library's handler conformance suite
// on the entries (with group paths rebuilt into nested maps).
func TestJournalSlogtest(t *testing.T) {
	var last journalEntry
	slogtest.Run(t,
		func(*testing.T) slog.Handler {
			h := NewJournalHandler(nil).(*journalHandler)
			h.send = func(e journalEntry) error { last = e; return nil }
			return h
		},
		func(*testing.T) map[string]any {
			m := map[string]any{slog.LevelKey: last.priority, slog.MessageKey: last.message}
			if !last.time.IsZero() {
				m[slog.TimeKey] = last.time
			}
			for _, f := range last.fields {
				cur := m
				for _, g := range f.path[:len(f.path)-1] {
					sub, ok := cur[g].(map[string]any)
					if !ok {
						sub = map[string]any{}
						cur[g] = sub
					}
					cur = sub
				}
				cur[f.path[len(f.path)-1]] = f.value
			}
			return m
		})
}

// WithAttrs and WithGroup must not leak into the handler they came from,
// nor into siblings made from it.
func TestJournalDerivedHandlersIndependent(t *testing.T) {
	h, last := captureJournal(nil)
	base := slog.New(h).WithGroup("a").With("x", 1)
	b1 := base.With("y", 2)
	b2 := base.WithGroup("b").With("z", 3)

	for _, tc := range []struct {
		l    *slog.Logger
		want string
	}{
		{base, "map[A_X:1]"},
		{b1, "map[A_X:1 A_Y:2]"},
		{b2, "map[A_B_Z:3 A_X:1]"},
		{base, "map[A_X:1]"},
	} {
		tc.l.Info("m")
		e, _ := last()
		if got := fmt.Sprint(e.vars()); got != tc.want {
			t.Errorf("vars = %s, want %s", got, tc.want)
		}
	}
}

func TestUnderJournal(t *testing.T) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(os.Stderr.Fd()), &st); err != nil {
		t.Skip("cannot stat stderr:", err)
	}
	for _, tc := range []struct {
		env  string
		want bool
	}{
		{"", false},
		{fmt.Sprintf("%d:%d", st.Dev, st.Ino), true},
		{fmt.Sprintf("%d:%d", st.Dev, st.Ino+1), false},
		{"garbage", false},
	} {
		t.Setenv("JOURNAL_STREAM", tc.env)
		if got := UnderJournal(); got != tc.want {
			t.Errorf("UnderJournal() with JOURNAL_STREAM=%q = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// TestJournalSendReal sends one entry to a running journald, where there
// is one.
func TestJournalSendReal(t *testing.T) {
	if _, err := os.Stat("/run/systemd/journal/socket"); err != nil {
		t.Skip("no journald here")
	}
	h := NewJournalHandler(nil)
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "clinicbox systemd package test entry", 0)
	r.AddAttrs(slog.String("subsystem", "systemd-test"))
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}
