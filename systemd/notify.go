package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify(3) state changes to systemd. Under Type=notify
// systemd considers the service started only after Ready, and with
// WatchdogSec= it restarts the service when RunWatchdog stops pinging.
//
// A Notifier made outside systemd (NOTIFY_SOCKET unset) does nothing: every
// method returns nil at once. Methods are safe for concurrent use.
type Notifier struct {
	log     *slog.Logger
	enabled bool

	mu     sync.Mutex
	status string // last text given to Status, restored when the watchdog recovers
}

// NewNotifier returns a Notifier for the service manager named by
// NOTIFY_SOCKET, read now and on every send through go-systemd. A nil logger
// means slog.Default(). The logger should already carry the caller's
// subsystem attribute.
func NewNotifier(logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.Default()
	}
	return &Notifier{log: logger, enabled: os.Getenv("NOTIFY_SOCKET") != ""}
}

// Enabled reports whether the process runs under a service manager that
// listens for notifications.
func (n *Notifier) Enabled() bool { return n.enabled }

// Ready tells systemd that start-up is complete (READY=1): storage is open
// and the listeners accept connections. Until then `systemctl start` waits
// and units ordered After=clinicbox.service do not start.
func (n *Notifier) Ready() error { return n.send(daemon.SdNotifyReady) }

// Stopping tells systemd that a clean shutdown has begun (STOPPING=1), so it
// does not mistake the drain for a hang.
func (n *Notifier) Stopping() error { return n.send(daemon.SdNotifyStopping) }

// Reloading tells systemd that the configuration is being reloaded
// (RELOADING=1); call Ready when done. (Type=notify-reload, systemd 253+,
// would also need MONOTONIC_USEC; clinicbox.service uses Type=notify.)
func (n *Notifier) Reloading() error { return n.send(daemon.SdNotifyReloading) }

// Status sets the one-line status shown by `systemctl status clinicbox`
// (STATUS=...). Newlines are replaced by spaces. Never put personal data in
// it: it is readable by every local user.
func (n *Notifier) Status(format string, args ...any) error {
	if !n.enabled {
		return nil
	}
	text := oneLine(fmt.Sprintf(format, args...))
	n.mu.Lock()
	n.status = text
	n.mu.Unlock()
	return n.send("STATUS=" + text)
}

// ExtendTimeout asks systemd for d more time to finish the current phase
// (EXTEND_TIMEOUT_USEC=...), for example while a long storage migration runs
// before Ready, or a drain before exit. Call it again before d runs out.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	if d <= 0 {
		return nil
	}
	return n.send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10))
}

// RunWatchdog keeps systemd's watchdog (WatchdogSec= in the unit, seen here
// as WATCHDOG_USEC and WATCHDOG_PID) fed while healthy says the process works.
//
// Every half interval it calls healthy, with a context that expires at the
// next tick, and sends WATCHDOG=1 only if healthy returns nil. While healthy
// fails it logs the error, withholds the ping and sets STATUS= to the
// failure; when the interval passes without a ping systemd kills the process
// and Restart=on-failure starts a fresh one. When healthy succeeds again the
// pings resume and the last Status text is restored. A nil healthy counts as
// always healthy. healthy's errors are logged and shown in `systemctl
// status`, so they must not carry personal data.
//
// RunWatchdog returns nil at once when no watchdog is set for this process,
// and otherwise runs until ctx is done, then returns nil. It returns an error
// only when WATCHDOG_USEC or WATCHDOG_PID are malformed.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func(context.Context) error) error {
	if !n.enabled {
		return nil
	}
	interval, err := daemon.SdWatchdogEnabled(false)
	if err != nil {
		return fmt.Errorf("systemd: watchdog: %w", err)
	}
	if interval <= 0 {
		return nil
	}
	period := interval / 2
	n.log.Debug("watchdog: started", "interval", interval, "ping_every", period)

	ticker := time.NewTicker(period)
	defer ticker.Stop()
	w := watchdogState{}
	for {
		n.watchdogTick(ctx, period, healthy, &w)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

// watchdogState is what RunWatchdog remembers between ticks.
type watchdogState struct {
	failures  int    // consecutive failed health checks
	lastError string // last failure text sent as STATUS=, to send it only on change
}

func (n *Notifier) watchdogTick(ctx context.Context, period time.Duration, healthy func(context.Context) error, w *watchdogState) {
	var err error
	if healthy != nil {
		cctx, cancel := context.WithTimeout(ctx, period)
		err = healthy(cctx)
		cancel()
	}
	if ctx.Err() != nil {
		return // shutting down: neither a failure nor a reason to ping
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("health check took longer than %v: %w", period, err)
		}
		w.failures++
		n.log.Warn("watchdog: health check failed, withholding ping",
			"err", err, "consecutive_failures", w.failures)
		text := oneLine("Unhealthy, watchdog ping withheld: " + err.Error())
		if text != w.lastError {
			w.lastError = text
			if serr := n.send("STATUS=" + text); serr != nil {
				n.log.Warn("watchdog: cannot set status", "err", serr)
			}
		}
		return
	}
	if w.failures > 0 {
		n.log.Info("watchdog: healthy again, resuming pings", "failed_checks", w.failures)
		w.failures, w.lastError = 0, ""
		n.mu.Lock()
		status := n.status
		n.mu.Unlock()
		if serr := n.send("STATUS=" + status); serr != nil {
			n.log.Warn("watchdog: cannot restore status", "err", serr)
		}
	}
	if serr := n.send(daemon.SdNotifyWatchdog); serr != nil {
		n.log.Warn("watchdog: ping failed", "err", serr)
	}
}

func (n *Notifier) send(state string) error {
	if !n.enabled {
		return nil
	}
	if _, err := daemon.SdNotify(false, state); err != nil {
		return fmt.Errorf("systemd: notify: %w", err)
	}
	return nil
}

// oneLine makes s safe as the value of one sd_notify assignment, which ends
// at a newline.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
