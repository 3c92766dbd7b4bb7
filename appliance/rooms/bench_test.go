package rooms_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/rooms"
	"clinicbox/storage"
)

// BenchmarkPost measures durable messages per second (each Post is
// fsynced before it returns) with 1, 10 and 100 concurrent senders, each
// in a room of their own, and, in the same run and directory just
// before, the disk's rate of 4 KiB write + fsync. x-fsync is messages/s
// over fsyncs/s: how many messages one fsync's worth of time carries,
// thanks to group commit. The disk of a shared VM varies by several
// times from minute to minute, hence the baseline next to each number.
//
// Posts go through storage.DB.Batch: a group commit without a timer (the
// next commit starts as soon as the last one ends, with every call that
// came meanwhile).
//
// The files go to t.TempDir(); point TMPDIR at the data disk to measure
// that one:
//
//	go test -run '^$' -bench Post -benchtime 5000x ./appliance/rooms/
func BenchmarkPost(b *testing.B) {
	for _, senders := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			benchPost(b, senders, senders)
		})
	}
}

// BenchmarkPostSharedRooms: 100 senders in 10 rooms (group chats): a
// commit then writes fewer distinct pages per message.
func BenchmarkPostSharedRooms(b *testing.B) {
	b.Run("senders=100/rooms=10", func(b *testing.B) { benchPost(b, 100, 10) })
}

func benchPost(b *testing.B, senders, nRooms int) {
	h := newHarness(b)
	type sender struct {
		a    rooms.Actor
		room uint64
	}
	var ids []uint64
	for i := range nRooms {
		ids = append(ids, h.room(fmt.Sprint("rum ", i)).ID)
	}
	var ss []sender
	for i := range senders {
		a := rooms.Actor{ID: uint64(1000 + i), Role: "client"}
		room := ids[i%nRooms]
		if err := h.rooms.AddMember(staff, room, a.ID, a.Role, rooms.RoleParticipant); err != nil {
			b.Fatal(err)
		}
		ss = append(ss, sender{a, room})
	}
	fsyncs := fsyncRate(b, h.dir, 500*time.Millisecond)
	text := "Hej! Jag undrar över tiden på torsdag, går det att flytta den till eftermiddagen?"
	tx0 := txID(b, h.db)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for _, s := range ss {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if _, err := h.rooms.Post(s.a, s.room, text); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	rate := float64(b.N) / elapsed.Seconds()
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(fsyncs, "fsyncs/s")
	b.ReportMetric(rate/fsyncs, "x-fsync")
	b.ReportMetric(float64(b.N)/float64(txID(b, h.db)-tx0), "msgs/commit")
}

// fsyncRate measures 4 KiB write + fsync per second in dir for about d.
func fsyncRate(tb testing.TB, dir string, d time.Duration) float64 {
	f, err := os.Create(filepath.Join(dir, "fsync-probe"))
	if err != nil {
		tb.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	page := make([]byte, 4096)
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		// Overwrite within a preallocated region, as bbolt does.
		if _, err := f.WriteAt(page, int64(n%256)*4096); err != nil {
			tb.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			tb.Fatal(err)
		}
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

// txID is the last committed write transaction: the difference over a
// run is the number of commits.
func txID(tb testing.TB, db *storage.DB) int {
	var id int
	if err := db.Bolt().View(func(tx *bbolt.Tx) error { id = tx.ID(); return nil }); err != nil {
		tb.Fatal(err)
	}
	return id
}

// BenchmarkFsync is the floor on its own: one 4 KiB write + fsync.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	i := int64(0)
	for b.Loop() {
		if _, err := f.WriteAt(page, (i%256)*4096); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkCommitPages is what a bbolt commit costs the disk: n 4 KiB
// pages written at scattered places of a preallocated file, fdatasync,
// then the meta page and fdatasync again. A message in a room of its own
// dirties at least one page (the room's newest events), so with one room
// per sender pages=50 is a commit of 50 messages: its cost, not one
// fsync's, bounds messages/s.
func BenchmarkCommitPages(b *testing.B) {
	for _, pages := range []int{1, 10, 50, 100} {
		b.Run(fmt.Sprintf("pages=%d", pages), func(b *testing.B) {
			f, err := os.Create(filepath.Join(b.TempDir(), "commit"))
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			const size = 64 << 20
			chunk := make([]byte, 1<<20)
			for off := int64(0); off < size; off += int64(len(chunk)) {
				if _, err := f.WriteAt(chunk, off); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			page := make([]byte, 4096)
			rng := rand.New(rand.NewPCG(1, 2))
			b.ResetTimer()
			for b.Loop() {
				for range pages {
					if _, err := f.WriteAt(page, rng.Int64N(size/4096)*4096); err != nil {
						b.Fatal(err)
					}
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
				if _, err := f.WriteAt(page, 0); err != nil {
					b.Fatal(err)
				}
				if err := f.Sync(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
		})
	}
}
