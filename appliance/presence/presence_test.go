package presence

import (
	"sync"
	"testing"
	"time"
)

func next(t *testing.T, c *Conn) Update {
	t.Helper()
	select {
	case u := <-c.C:
		return u
	case <-time.After(time.Second):
		t.Fatal("no update")
	}
	return Update{}
}

func none(t *testing.T, c *Conn) {
	t.Helper()
	select {
	case u := <-c.C:
		t.Fatalf("unexpected update %+v", u)
	default:
	}
}

func TestStatusChanges(t *testing.T) {
	h := New()
	staff := h.Connect(1, []uint64{2})
	if s := staff.Snapshot(); len(s) != 1 || s[0] != (Update{2, Offline}) {
		t.Fatalf("snapshot %+v", s)
	}
	tab1 := h.Connect(2, nil)
	if u := next(t, staff); u != (Update{2, Online}) {
		t.Fatalf("%+v", u)
	}
	tab2 := h.Connect(2, nil) // a second tab: no change
	none(t, staff)
	tab1.SetIdle(true) // the other tab is still active
	none(t, staff)
	tab2.SetIdle(true)
	if u := next(t, staff); u != (Update{2, Inactive}) {
		t.Fatalf("%+v", u)
	}
	tab2.SetIdle(false)
	if u := next(t, staff); u != (Update{2, Online}) {
		t.Fatalf("%+v", u)
	}
	tab2.Close()
	if u := next(t, staff); u != (Update{2, Inactive}) { // tab1 is idle
		t.Fatalf("%+v", u)
	}
	tab1.Close()
	if u := next(t, staff); u != (Update{2, Offline}) {
		t.Fatalf("%+v", u)
	}
	// Only watchers hear about a user.
	other := h.Connect(3, nil)
	h.Connect(2, nil)
	none(t, other)
	staff.Close()
	if h.Status(1) != Offline || h.Connections() != 2 {
		t.Fatalf("status %s, %d connections", h.Status(1), h.Connections())
	}
}

func TestSlowWatcherDoesNotBlock(t *testing.T) {
	h := New()
	h.Connect(1, []uint64{2}) // never read
	done := make(chan bool)
	go func() {
		for i := 0; i < 1000; i++ {
			c := h.Connect(2, nil)
			c.Close()
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a slow watcher blocked the hub")
	}
}

func TestConcurrent(t *testing.T) {
	h := New()
	var wg sync.WaitGroup
	for i := uint64(1); i <= 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := h.Connect(i, []uint64{1, 2, 3})
			for j := 0; j < 50; j++ {
				c.SetIdle(j%2 == 0)
				c.Snapshot()
			}
			c.Close()
		}()
	}
	wg.Wait()
	if h.Connections() != 0 {
		t.Fatalf("%d connections left", h.Connections())
	}
}
