package notify_test

import (
	"testing"
	"time"

	"clinicbox/appliance/notify"
)

// TestDebounce: at most one notification per room and user per interval
// while unread, on the fake clock.
func TestDebounce(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	clk := newClock()
	n := startNotifier(t, notify.Config{Interval: 15 * time.Minute, Email: emailConfig(ms, pki, notify.ModeStartTLS)}, nil, clk.Now)
	anna := notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true}
	bo := notify.Recipient{UserID: 2, Email: "bo@example.se", NotifyEmail: true}
	msg := func(room uint64) notify.Message { return notify.Message{Kind: notify.KindMessage, RoomID: room} }

	notifyOK(t, n, anna, msg(1), true)
	clk.Advance(time.Minute)
	notifyOK(t, n, anna, msg(1), false)                                           // same room, within the interval: debounced
	notifyOK(t, n, anna, notify.Message{Kind: notify.KindCall, RoomID: 1}, false) // a call there too
	notifyOK(t, n, anna, msg(2), true)                                            // another room: its own mail
	notifyOK(t, n, bo, msg(1), true)                                              // another person in the room: their own
	if v := counter(t, n, "clinicbox_notify_debounced_total", ""); v != 2 {
		t.Fatalf("debounced = %v, want 2", v)
	}

	// Read: the next message notifies at once.
	n.MarkRead(1, 1)
	notifyOK(t, n, anna, msg(1), true)
	notifyOK(t, n, anna, msg(1), false)

	// Still unread after the interval: one more reminder.
	clk.Advance(15*time.Minute - time.Second)
	notifyOK(t, n, anna, msg(1), false)
	clk.Advance(time.Second)
	notifyOK(t, n, anna, msg(1), true)

	// MarkRead of another room or person changes nothing here.
	n.MarkRead(1, 99)
	n.MarkRead(2, 1)
	notifyOK(t, n, anna, msg(1), false)

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"anna@example.se": 4, "bo@example.se": 1}
	got := map[string]int{}
	for _, m := range ms.received() {
		got[m.To[0]]++
	}
	if len(got) != len(want) || got["anna@example.se"] != 4 || got["bo@example.se"] != 1 {
		t.Fatalf("mails per recipient %v, want %v", got, want)
	}
	if v := counter(t, n, "clinicbox_notify_sent_total", "email"); v != 5 {
		t.Fatalf("sent = %v", v)
	}
}

// TestOnlineAndChannels: someone online got it live and gets nothing
// else; nothing goes to a channel the person did not choose or has no
// contact for; none of that counts against the debounce.
func TestOnlineAndChannels(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	n := startNotifier(t, notify.Config{Email: emailConfig(ms, pki, notify.ModeStartTLS)}, nil, newClock().Now)
	m := notify.Message{Kind: notify.KindMessage, RoomID: 1}
	online := notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: true, Online: true}
	notifyOK(t, n, online, m, false)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", NotifyEmail: false}, m, false)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "", NotifyEmail: true}, m, false)
	// SMS chosen, but the box has no gateway.
	notifyOK(t, n, notify.Recipient{UserID: 1, Phone: "0701234567", NotifySMS: true}, m, false)
	if v := counter(t, n, "clinicbox_notify_debounced_total", ""); v != 0 {
		t.Fatalf("debounced = %v", v)
	}
	// Offline now: the first notification goes.
	online.Online = false
	notifyOK(t, n, online, m, true)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if got := len(ms.received()); got != 1 {
		t.Fatalf("%d mails, want 1", got)
	}
}

// TestNoChannelsConfigured: a box without SMTP and SMS notifies in the
// app only.
func TestNoChannelsConfigured(t *testing.T) {
	n := startNotifier(t, notify.Config{}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 1, Email: "anna@example.se", Phone: "0701234567", NotifyEmail: true, NotifySMS: true},
		notify.Message{Kind: notify.KindCall, RoomID: 1}, false)
	if len(n.Status()) != 0 {
		t.Fatalf("status %+v", n.Status())
	}
}
