package rooms_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/rooms"
	"clinicbox/storage"
)

func txid(h *harness) int {
	var id int
	h.db.Bolt().View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil })
	return id
}

// groupCommit: calls that arrive while a commit runs go together into the
// next one, which starts as soon as the previous commit ends.
type groupCommit struct {
	db      *storage.DB
	mu      sync.Mutex
	pending []gcall
	running bool
}

type gcall struct {
	fn  func(*bbolt.Tx) error
	err chan error
}

func (g *groupCommit) Batch(fn func(*bbolt.Tx) error) error {
	c := gcall{fn, make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.running {
		g.running = true
		go g.loop()
	}
	g.mu.Unlock()
	return <-c.err
}

var errSolo = errors.New("solo")

func (g *groupCommit) loop() {
	for {
		g.mu.Lock()
		calls := g.pending
		g.pending = nil
		if len(calls) == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		for len(calls) > 0 {
			failed := -1
			err := g.db.Update(func(tx *bbolt.Tx) error {
				for i, c := range calls {
					if err := c.fn(tx); err != nil {
						failed = i
						return err
					}
				}
				return nil
			})
			if failed >= 0 {
				c := calls[failed]
				calls = append(calls[:failed:failed], calls[failed+1:]...)
				c.err <- g.db.Update(c.fn)
				continue
			}
			for _, c := range calls {
				c.err <- err
			}
			break
		}
	}
}

func TestZZExperiment(t *testing.T) {
	for _, cfg := range [][3]int{{1, 1, 0}, {1, 1, 1}, {10, 1, 0}, {10, 1, 1}, {100, 1, 0}, {100, 1, 1}} {
		senders := cfg[0]
		h := newHarness(t)
		h.db.Bolt().MaxBatchDelay = time.Duration(cfg[1]) * time.Millisecond
		if cfg[2] == 1 {
			g := &groupCommit{db: h.db}
			rooms.SetBatch(h.rooms, g.Batch)
		}
		var ss []rooms.Actor
		var rs []uint64
		for i := range senders {
			a := rooms.Actor{ID: uint64(1000 + i), Role: "client"}
			r := h.room(fmt.Sprint("rum ", i), a)
			ss = append(ss, a)
			rs = append(rs, r.ID)
		}
		before := h.db.Bolt().Stats()
		t0 := txid(h)
		start := time.Now()
		n := 5000
		if senders == 1 {
			n = 500
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		count := 0
		for i := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					if count >= n {
						mu.Unlock()
						return
					}
					count++
					mu.Unlock()
					if _, err := h.rooms.Post(ss[i], rs[i], "hej hej hej hej"); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		el := time.Since(start)
		after := h.db.Bolt().Stats()
		st := after.Sub(&before)
		commits := txid(h) - t0
		t.Logf("group %d delay %dms senders %d: %d posts in %v (%.0f/s), %d commits (%.1f posts/commit, %.2f ms/commit), pages %d, writeTime %v, spill %v",
			cfg[2], cfg[1], senders, n, el, float64(n)/el.Seconds(), commits, float64(n)/float64(commits), el.Seconds()*1000/float64(commits),
			st.TxStats.GetPageCount(), st.TxStats.GetWriteTime(), st.TxStats.GetSpillTime())
	}
}
