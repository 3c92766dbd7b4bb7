// Package systemd is clinicbox's side of the contract with systemd, the
// service manager of the appliance. The unit files it talks to live in this
// directory too (clinicbox.service, clinicbox-http.socket,
// clinicbox-https.socket, clinicbox.sysusers, clinicbox.tmpfiles; see
// README.md).
//
// Three small pieces, each a no-op when the process does not run under
// systemd, so `clinicbox serve` behaves the same from a shell:
//
//	systemd (PID 1)                          clinicbox serve
//	───────────────                          ───────────────
//	NOTIFY_SOCKET  ◄── READY=1, STATUS=…,  ── Notifier
//	                   STOPPING=1, WATCHDOG=1    └ RunWatchdog: pings only while healthy
//	WATCHDOG_USEC  ──► ping interval × 2
//	LISTEN_FDS     ──► fds 3.. named "http", ── Listeners() map[name][]net.Listener
//	LISTEN_FDNAMES     "https" (socket units)
//	JOURNAL_STREAM ──► stderr is journald   ── UnderJournal(), NewJournalHandler:
//	journald socket ◄── MESSAGE, PRIORITY,       slog records as native journal fields
//	                    SUBSYSTEM, HTTP_STATUS, …
//	STATE_DIRECTORY ─► /var/lib/clinicbox (read by the config package, not here)
//
// Nothing here keeps package-level mutable state: each Notifier and each
// journal handler carries its own, so tests can run many side by side.
package systemd
