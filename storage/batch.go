package storage

import (
	"fmt"
	"sync"

	"go.etcd.io/bbolt"
)

// groupCommit is how Batch shares commits among concurrent writers
// without a timer: the first call commits at once; calls that arrive while
// a commit runs wait and go together into the next one, which starts as
// soon as the previous ends. The group grows with the load by itself, and
// a lone writer never waits. (bbolt's own Batch waits MaxBatchDelay for
// company, which made every request write at least that slow.)
//
// As with bbolt's Batch, a function that fails is taken out and run alone
// in a transaction of its own, and the others run again; so a function
// may run more than once and must be idempotent apart from its effect on
// the transaction.
type groupCommit struct {
	mu      sync.Mutex
	pending []groupCall
	running bool
}

type groupCall struct {
	fn  func(*bbolt.Tx) error
	err chan error
}

// panicked carries a panic out of the committing goroutine, to be raised
// again in the caller's.
type panicked struct{ value any }

func (p panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

func safely(fn func(*bbolt.Tx) error, tx *bbolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = panicked{p}
		}
	}()
	return fn(tx)
}

func (g *groupCommit) do(db *bbolt.DB, fn func(*bbolt.Tx) error) error {
	c := groupCall{fn, make(chan error, 1)}
	g.mu.Lock()
	g.pending = append(g.pending, c)
	if !g.running {
		g.running = true
		go g.loop(db)
	}
	g.mu.Unlock()
	err := <-c.err
	if p, ok := err.(panicked); ok {
		panic(p.value)
	}
	return err
}

func (g *groupCommit) loop(db *bbolt.DB) {
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
			err := db.Update(func(tx *bbolt.Tx) error {
				for i, c := range calls {
					if err := safely(c.fn, tx); err != nil {
						failed = i
						return err
					}
				}
				return nil
			})
			if failed >= 0 {
				// Only the failing call gets its error; it runs alone so
				// its answer is its own, and the rest try again together.
				c := calls[failed]
				calls = append(calls[:failed:failed], calls[failed+1:]...)
				c.err <- db.Update(func(tx *bbolt.Tx) error { return safely(c.fn, tx) })
				continue
			}
			for _, c := range calls {
				c.err <- err
			}
			break
		}
	}
}
