package rooms

import (
	"fmt"
	"testing"
	"time"
)

func drain(ch <-chan Update) []uint64 {
	var ids []uint64
	for {
		select {
		case u := <-ch:
			ids = append(ids, u.Event.ID)
		default:
			return ids
		}
	}
}

// Commit handlers may run out of order; the sequencer puts them back.
func TestSequencerOrders(t *testing.T) {
	h := newHub(100)
	ch, cancel := h.subscribe(1)
	defer cancel()
	q := newSequencer(10, h)
	q.wait = time.Hour
	for _, id := range []uint64{12, 11, 14} {
		q.committed(delivery{ev: &Event{ID: id}, to: []uint64{1}})
	}
	if got := drain(ch); len(got) != 0 {
		t.Fatalf("delivered %v before 10", got)
	}
	q.committed(delivery{ev: &Event{ID: 10}, to: []uint64{1}})
	if got := fmt.Sprint(drain(ch)); got != "[10 11 12]" {
		t.Fatalf("delivered %s", got)
	}
	q.committed(delivery{ev: &Event{ID: 13}, to: []uint64{2}}) // someone else's
	if got := fmt.Sprint(drain(ch)); got != "[14]" {
		t.Fatalf("delivered %s", got)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.timer != nil || len(q.pending) != 0 || q.next != 15 {
		t.Fatalf("state after: timer %v pending %v next %d", q.timer, q.pending, q.next)
	}
}

// An id that never comes (a second Store on the same file) holds the
// feed up for the wait only.
func TestSequencerSkipsGap(t *testing.T) {
	h := newHub(100)
	ch, cancel := h.subscribe(1)
	defer cancel()
	q := newSequencer(1, h)
	q.wait = 20 * time.Millisecond
	q.committed(delivery{ev: &Event{ID: 3}, to: []uint64{1}})
	q.committed(delivery{ev: &Event{ID: 2}, to: []uint64{1}})
	time.Sleep(100 * time.Millisecond)
	if got := fmt.Sprint(drain(ch)); got != "[2 3]" {
		t.Fatalf("delivered %s", got)
	}
	// The late one still arrives rather than never.
	q.committed(delivery{ev: &Event{ID: 1}, to: []uint64{1}})
	q.committed(delivery{ev: &Event{ID: 4}, to: []uint64{1}})
	if got := fmt.Sprint(drain(ch)); got != "[1 4]" {
		t.Fatalf("delivered %s", got)
	}
}
