// Package presence knows who is online right now: online (connected and
// active), inactive (connected, idle for a while) or offline. It lives in
// memory only: presence is never stored (SPEC: "Presence is not stored,
// except that administrators see the date each colleague was last
// active", which identity keeps as a date).
//
//	user ──live connection(s)──► Hub: per user, the state of each connection
//	                              │ status = online if any connection is active,
//	                              │          inactive if connected but all idle,
//	                              │          offline without connections
//	                              └─► watchers of that user get each change
package presence

import (
	"slices"
	"sync"
)

// Status is a user's presence.
type Status string

const (
	Online   Status = "online"
	Inactive Status = "inactive"
	Offline  Status = "offline"
)

// Update tells a watcher that a user's status changed.
type Update struct {
	UserID uint64 `json:"user"`
	Status Status `json:"status"`
}

// Hub tracks connections and watchers.
type Hub struct {
	mu       sync.Mutex
	conns    map[uint64]map[*Conn]bool // user → connection → idle
	watchers map[uint64]map[*Conn]bool // watched user → connections watching
}

// New returns an empty hub.
func New() *Hub {
	return &Hub{conns: map[uint64]map[*Conn]bool{}, watchers: map[uint64]map[*Conn]bool{}}
}

// Conn is one live connection (a browser tab) of a user. Updates about the
// users it watches arrive on C; a slow reader loses updates rather than
// holding the hub up (the next change or a reconnect's snapshot puts it
// right).
type Conn struct {
	hub     *Hub
	UserID  uint64
	C       chan Update
	watched []uint64
}

// Connect registers a connection of userID, active, watching the given
// users (nil for someone who sees no presence, e.g. a client).
func (h *Hub) Connect(userID uint64, watch []uint64) *Conn {
	c := &Conn{hub: h, UserID: userID, C: make(chan Update, 64), watched: slices.Clone(watch)}
	h.mu.Lock()
	defer h.mu.Unlock()
	before := h.statusLocked(userID)
	if h.conns[userID] == nil {
		h.conns[userID] = map[*Conn]bool{}
	}
	h.conns[userID][c] = false
	for _, w := range c.watched {
		if h.watchers[w] == nil {
			h.watchers[w] = map[*Conn]bool{}
		}
		h.watchers[w][c] = true
	}
	h.notifyLocked(userID, before)
	return c
}

// Snapshot is the current status of every watched user, sent when a
// connection opens (or reopens after a drop).
func (c *Conn) Snapshot() []Update {
	h := c.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Update, 0, len(c.watched))
	for _, u := range c.watched {
		out = append(out, Update{u, h.statusLocked(u)})
	}
	return out
}

// SetIdle records that the user stopped (or resumed) using this tab.
func (c *Conn) SetIdle(idle bool) {
	h := c.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.conns[c.UserID]
	if m == nil {
		return
	}
	if _, ok := m[c]; !ok || m[c] == idle {
		return
	}
	before := h.statusLocked(c.UserID)
	m[c] = idle
	h.notifyLocked(c.UserID, before)
}

// Close ends the connection; the last one makes the user offline.
func (c *Conn) Close() {
	h := c.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	before := h.statusLocked(c.UserID)
	if m := h.conns[c.UserID]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(h.conns, c.UserID)
		}
	}
	for _, w := range c.watched {
		if m := h.watchers[w]; m != nil {
			delete(m, c)
			if len(m) == 0 {
				delete(h.watchers, w)
			}
		}
	}
	h.notifyLocked(c.UserID, before)
}

// Status returns a user's presence.
func (h *Hub) Status(userID uint64) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.statusLocked(userID)
}

// Connections counts live connections, for metrics.
func (h *Hub) Connections() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.conns {
		n += len(m)
	}
	return n
}

func (h *Hub) statusLocked(userID uint64) Status {
	m := h.conns[userID]
	if len(m) == 0 {
		return Offline
	}
	for _, idle := range m {
		if !idle {
			return Online
		}
	}
	return Inactive
}

func (h *Hub) notifyLocked(userID uint64, before Status) {
	after := h.statusLocked(userID)
	if after == before {
		return
	}
	for w := range h.watchers[userID] {
		select {
		case w.C <- Update{userID, after}:
		default: // a stuck reader must not stop the hub
		}
	}
}
