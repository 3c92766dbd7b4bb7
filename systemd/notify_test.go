package systemd

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeSystemd is a NOTIFY_SOCKET: a real unixgram socket that records the
// datagrams a Notifier sends, as systemd would receive them.
type fakeSystemd struct {
	t    *testing.T
	conn *net.UnixConn
}

func newFakeSystemd(t *testing.T) *fakeSystemd {
	t.Helper()
	// A short directory: a socket path may not exceed 107 bytes.
	dir, err := os.MkdirTemp("", "cbnotify")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	t.Setenv("WATCHDOG_USEC", "")
	t.Setenv("WATCHDOG_PID", "")
	return &fakeSystemd{t: t, conn: conn}
}

// next returns the next datagram, or "" if none arrives within d.
func (s *fakeSystemd) next(d time.Duration) string {
	s.t.Helper()
	buf := make([]byte, 4096)
	s.conn.SetReadDeadline(time.Now().Add(d))
	n, err := s.conn.Read(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return ""
		}
		s.t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func (s *fakeSystemd) expect(want string) {
	s.t.Helper()
	if got := s.next(2 * time.Second); got != want {
		s.t.Fatalf("datagram = %q, want %q", got, want)
	}
}

// until reads datagrams until one equals want, and returns those before it.
func (s *fakeSystemd) until(want string, d time.Duration) []string {
	s.t.Helper()
	var before []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		got := s.next(time.Until(deadline))
		if got == want {
			return before
		}
		if got != "" {
			before = append(before, got)
		}
	}
	s.t.Fatalf("no %q within %v; got %q", want, d, before)
	return nil
}

func testLogger() (*slog.Logger, *syncBuffer) {
	buf := &syncBuffer{}
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// syncBuffer is a log destination the watchdog goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNotifierDatagrams(t *testing.T) {
	sd := newFakeSystemd(t)
	n := NewNotifier(nil)
	if !n.Enabled() {
		t.Fatal("Enabled() = false with NOTIFY_SOCKET set")
	}

	steps := []struct {
		name string
		call func() error
		want string
	}{
		{"Status", func() error { return n.Status("opening storage (%d buckets)", 12) }, "STATUS=opening storage (12 buckets)"},
		{"Status newline", func() error { return n.Status("line one\nline two") }, "STATUS=line one line two"},
		{"ExtendTimeout", func() error { return n.ExtendTimeout(90 * time.Second) }, "EXTEND_TIMEOUT_USEC=90000000"},
		{"Ready", n.Ready, "READY=1"},
		{"Reloading", n.Reloading, "RELOADING=1"},
		{"Stopping", n.Stopping, "STOPPING=1"},
	}
	for _, s := range steps {
		if err := s.call(); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		sd.expect(s.want)
	}
	if got := sd.next(50 * time.Millisecond); got != "" {
		t.Errorf("unexpected extra datagram %q", got)
	}
}

func TestNotifierOutsideSystemd(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "1000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n := NewNotifier(nil)
	if n.Enabled() {
		t.Fatal("Enabled() = true without NOTIFY_SOCKET")
	}
	for name, err := range map[string]error{
		"Ready":         n.Ready(),
		"Status":        n.Status("x"),
		"Stopping":      n.Stopping(),
		"Reloading":     n.Reloading(),
		"ExtendTimeout": n.ExtendTimeout(time.Second),
	} {
		if err != nil {
			t.Errorf("%s() = %v, want nil", name, err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(t.Context(), nil) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunWatchdog = %v, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("RunWatchdog did not return at once outside systemd")
	}
}

func TestNotifierSocketGone(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "missing"))
	n := NewNotifier(nil)
	if err := n.Ready(); err == nil || !strings.HasPrefix(err.Error(), "systemd: notify: ") {
		t.Errorf("Ready() with a missing socket = %v, want a systemd: notify: error", err)
	}
}

func TestRunWatchdogNotForThisPID(t *testing.T) {
	newFakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "1000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()+1))
	if err := NewNotifier(nil).RunWatchdog(t.Context(), nil); err != nil {
		t.Errorf("RunWatchdog = %v, want nil", err)
	}
}

func TestRunWatchdogMalformed(t *testing.T) {
	newFakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "soon")
	if err := NewNotifier(nil).RunWatchdog(t.Context(), nil); err == nil {
		t.Error("RunWatchdog with WATCHDOG_USEC=soon = nil, want an error")
	}
}

// TestRunWatchdog: pings at half the interval while healthy, none while
// unhealthy (with the failure in STATUS=), pings again after recovery with
// the previous status restored, and stops when the context ends.
func TestRunWatchdog(t *testing.T) {
	sd := newFakeSystemd(t)
	const interval = 100 * time.Millisecond // pings every 50ms
	t.Setenv("WATCHDOG_USEC", strconv.Itoa(int(interval.Microseconds())))
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))

	logger, logs := testLogger()
	n := NewNotifier(logger)
	if err := n.Status("serving %d rooms", 3); err != nil {
		t.Fatal(err)
	}
	sd.expect("STATUS=serving 3 rooms")

	var unhealthy atomic.Bool
	var sawDeadline atomic.Bool
	healthy := func(ctx context.Context) error {
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= interval/2 {
			sawDeadline.Store(true)
		}
		if unhealthy.Load() {
			return errors.New("storage: write probe failed")
		}
		return nil
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- n.RunWatchdog(ctx, healthy) }()

	// Healthy: a ping at once, then one per half interval.
	start := time.Now()
	for range 4 {
		sd.expect("WATCHDOG=1")
	}
	if el := time.Since(start); el < 3*interval/2-20*time.Millisecond {
		t.Errorf("4 pings in %v, want about one per %v", el, interval/2)
	}
	if !sawDeadline.Load() {
		t.Error("health check context has no deadline within the ping period")
	}

	// Unhealthy: the failure shows as STATUS=, then silence.
	unhealthy.Store(true)
	sd.until("STATUS=Unhealthy, watchdog ping withheld: storage: write probe failed", time.Second)
	if got := sd.next(3 * interval); got != "" {
		t.Fatalf("while unhealthy got %q, want no datagram", got)
	}
	if l := logs.String(); !strings.Contains(l, "health check failed") || !strings.Contains(l, "storage: write probe failed") {
		t.Errorf("failure not logged; log:\n%s", l)
	}

	// Recovered: status restored, pings resume.
	unhealthy.Store(false)
	sd.expect("STATUS=serving 3 rooms")
	sd.expect("WATCHDOG=1")
	sd.expect("WATCHDOG=1")
	if l := logs.String(); !strings.Contains(l, "healthy again") {
		t.Errorf("recovery not logged; log:\n%s", l)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("RunWatchdog = %v, want nil after cancel", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}
	for { // drain a ping that raced the cancel
		got := sd.next(3 * interval)
		if got == "" {
			break
		}
		if got != "WATCHDOG=1" {
			t.Errorf("after cancel got %q", got)
		}
	}
}

// A health check that hangs past the ping period counts as a failure.
func TestRunWatchdogSlowCheck(t *testing.T) {
	sd := newFakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "100000")
	t.Setenv("WATCHDOG_PID", strconv.Itoa(os.Getpid()))
	n := NewNotifier(slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.RunWatchdog(ctx, func(ctx context.Context) error {
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	defer func() { cancel(); <-done }()
	sd.expect("STATUS=Unhealthy, watchdog ping withheld: health check took longer than 50ms: context deadline exceeded")
	if got := sd.next(200 * time.Millisecond); got != "" {
		t.Fatalf("with a hanging check got %q, want no datagram", got)
	}
}
