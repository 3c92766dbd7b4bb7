package rooms_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"clinicbox/appliance/rooms"
)

// The benchmarks measure durable messages per second (each Post is
// fsynced before it returns) with 1, 10 and 100 concurrent senders, and,
// in the same run and directory, the disk's rate of 4 KiB write + fsync,
// the floor of one durable commit. x-fsync is messages/s over fsyncs/s:
// how many messages one fsync carries thanks to bbolt's group commit
// (DB.Batch). The files go to t.TempDir(); point TMPDIR at the data disk
// to measure that one:
//
//	go test -run '^$' -bench . -benchtime 3s ./appliance/rooms/

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

var (
	fsyncOnce sync.Once
	fsyncs    float64
)

func BenchmarkPost(b *testing.B) {
	for _, senders := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("senders=%d", senders), func(b *testing.B) {
			h := newHarness(b)
			fsyncOnce.Do(func() { fsyncs = fsyncRate(b, h.dir, 2*time.Second) })
			// One room per sender, each with a client in it.
			type sender struct {
				a    rooms.Actor
				room uint64
			}
			var ss []sender
			for i := range senders {
				a := rooms.Actor{ID: uint64(1000 + i), Role: "client"}
				r := h.room(fmt.Sprint("rum ", i), a)
				ss = append(ss, sender{a, r.ID})
			}
			text := "Hej! Jag undrar över tiden på torsdag, går det att flytta den till eftermiddagen?"
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
		})
	}
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
