package rooms

import (
	"sync"
	"time"
)

// Subscribe returns a channel of the updates userID should see: new
// events in their rooms (in event-id order), read receipts, and rooms
// they no longer see. The channel is buffered; if the subscriber falls
// that far behind it is dropped and the channel closed, and the client
// resumes with EventsSince. cancel ends the subscription (it may be
// called more than once, also after a drop).
func (s *Store) Subscribe(userID uint64) (ch <-chan Update, cancel func()) {
	return s.hub.subscribe(userID)
}

// Subscribers counts live subscriptions, for metrics.
func (s *Store) Subscribers() int { return s.hub.count() }

// Dropped counts subscriptions dropped for falling behind since New, for
// metrics.
func (s *Store) Dropped() uint64 {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.hub.dropped
}

type subscription struct {
	ch     chan Update
	closed bool
}

// hub fans updates out to subscriptions. Sends never block: a full
// channel drops its subscriber.
type hub struct {
	mu      sync.Mutex
	size    int
	subs    map[uint64]map[*subscription]struct{}
	dropped uint64
}

func newHub(size int) *hub {
	return &hub{size: size, subs: map[uint64]map[*subscription]struct{}{}}
}

func (h *hub) subscribe(userID uint64) (<-chan Update, func()) {
	sub := &subscription{ch: make(chan Update, h.size)}
	h.mu.Lock()
	m := h.subs[userID]
	if m == nil {
		m = map[*subscription]struct{}{}
		h.subs[userID] = m
	}
	m[sub] = struct{}{}
	h.mu.Unlock()
	var once sync.Once
	return sub.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			h.removeLocked(userID, sub)
		})
	}
}

func (h *hub) removeLocked(userID uint64, sub *subscription) {
	if m := h.subs[userID]; m != nil {
		delete(m, sub)
		if len(m) == 0 {
			delete(h.subs, userID)
		}
	}
	if !sub.closed {
		sub.closed = true
		close(sub.ch)
	}
}

func (h *hub) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}

// send gives u to every subscription of the users in to.
func (h *hub) send(to []uint64, u Update) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, user := range to {
		for sub := range h.subs[user] {
			select {
			case sub.ch <- u:
			default:
				// Too far behind: drop it rather than hold up the
				// writers; the client reconnects and resumes.
				h.dropped++
				h.removeLocked(user, sub)
			}
		}
	}
}

// gapWait is how long the sequencer waits for a missing event id before
// giving up on it. Committed ids have no gaps (doc.go), and an id's
// commit handler runs microseconds after the commit, so only a second
// Store on the same database makes it wait.
const gapWait = time.Second

// sequencer delivers committed events in id order. bbolt runs commit
// handlers after releasing its writer lock, so the handlers of two
// consecutive commits can run in either order; a browser that saw event
// 12 before 11 and then lost its connection would resume after 12 and
// never see 11.
type sequencer struct {
	mu      sync.Mutex
	next    uint64 // the next id to deliver
	pending map[uint64]delivery
	timer   *time.Timer
	gen     uint64 // which timer is current
	wait    time.Duration
	hub     *hub
}

type delivery struct {
	ev *Event
	to []uint64
}

func newSequencer(next uint64, h *hub) *sequencer {
	return &sequencer{next: next, pending: map[uint64]delivery{}, wait: gapWait, hub: h}
}

// committed is called (from a commit handler) with each committed event.
func (q *sequencer) committed(d delivery) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if d.ev.ID < q.next {
		// Later than a gap we gave up on: late beats never.
		q.hub.send(d.to, Update{Event: d.ev})
		return
	}
	q.pending[d.ev.ID] = d
	q.flushLocked()
}

func (q *sequencer) flushLocked() {
	for {
		d, ok := q.pending[q.next]
		if !ok {
			break
		}
		delete(q.pending, q.next)
		q.next++
		q.hub.send(d.to, Update{Event: d.ev})
	}
	switch {
	case len(q.pending) == 0 && q.timer != nil:
		q.timer.Stop()
		q.timer = nil
		q.gen++
	case len(q.pending) > 0 && q.timer == nil:
		q.gen++
		gen := q.gen
		q.timer = time.AfterFunc(q.wait, func() { q.skipGap(gen) })
	}
}

// skipGap gives up on the missing id(s) before the oldest pending event.
func (q *sequencer) skipGap(gen uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if gen != q.gen {
		return
	}
	q.timer = nil
	if len(q.pending) == 0 {
		return
	}
	lowest := uint64(0)
	for id := range q.pending {
		if lowest == 0 || id < lowest {
			lowest = id
		}
	}
	q.next = lowest
	q.flushLocked()
}
