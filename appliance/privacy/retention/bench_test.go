package retention_test

import (
	"context"
	"encoding/binary"
	"os"
	"strconv"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// BenchmarkRun is one retention run over 1,000,000 messages in 1,000
// rooms (RETENTION_BENCH_MESSAGES and RETENTION_BENCH_ROOMS change
// that), half of the rooms inactivated more than 5 years ago (purged:
// their messages deleted, their keys erased) and half idle for more than
// 2 years (inactivated). Rooms are created and one message posted in
// each through rooms.Store; the other messages are copies of that
// sealed message record under further event ids, written straight into
// the room-events bucket (posting a million messages one fsync at a
// time would take the benchmark hours). It reports the dry run too.
//
//	go test -run '^$' -bench Run -benchtime 1x ./appliance/privacy/retention/
func BenchmarkRun(b *testing.B) {
	messages, nRooms := envInt("RETENTION_BENCH_MESSAGES", 1_000_000), envInt("RETENTION_BENCH_ROOMS", 1000)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		x := newBox(b)
		ids := make([]uint64, nRooms)
		for j := range ids {
			ids[j] = x.room().ID
		}
		setup := time.Now()
		copyMessages(b, x.db, ids, messages/nRooms-1)
		for _, id := range ids[:nRooms/2] {
			if err := x.rooms.Inactivate(x.staff, id); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("setup: %d rooms, %d messages written in %v", nRooms, messages, time.Since(setup).Round(time.Millisecond))
		x.clock.set(5, 0, 1)

		start := time.Now()
		dry, err := x.engine.Run(context.Background(), true)
		if err != nil {
			b.Fatal(err)
		}
		dryTime := time.Since(start)
		b.StartTimer()
		start = time.Now()
		rep, err := x.engine.Run(context.Background(), false)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(dryTime.Seconds(), "dry-s")
		b.ReportMetric(time.Since(start).Seconds(), "run-s")
		b.Logf("dry run %v: %v; run %v: %v", dryTime.Round(time.Millisecond), dry.Counts, time.Since(start).Round(time.Millisecond), rep.Counts)
		if rep.Counts["rooms-inactive"] != nRooms/2 || rep.Counts["rooms-idle"] != nRooms-nRooms/2 {
			b.Fatalf("counts %v", rep.Counts)
		}
		var left int
		x.db.View(func(tx *bbolt.Tx) error { left = tx.Bucket([]byte("room-events")).Stats().KeyN; return nil })
		if want := messages / 2; left < want || left > want+3*nRooms {
			b.Fatalf("%d events left, want about %d", left, want)
		}
	}
}

// copyMessages adds n copies of each room's newest message record.
func copyMessages(b *testing.B, db *storage.DB, rooms []uint64, n int) {
	const perTx = 50_000
	next := uint64(1) << 40
	for _, room := range rooms {
		var msg []byte
		db.View(func(tx *bbolt.Tx) error {
			c := tx.Bucket([]byte("room-events")).Cursor()
			prefix := storage.ID(room)
			for k, v := c.Seek(prefix); k != nil && string(k[:8]) == string(prefix); k, v = c.Next() {
				msg = append([]byte(nil), v...)
			}
			return nil
		})
		for done := 0; done < n; {
			err := db.Update(func(tx *bbolt.Tx) error {
				bk := tx.Bucket([]byte("room-events"))
				bk.FillPercent = 1
				for ; done < n; done++ {
					k := make([]byte, 16)
					binary.BigEndian.PutUint64(k, room)
					binary.BigEndian.PutUint64(k[8:], next)
					next++
					if err := bk.Put(k, msg); err != nil {
						return err
					}
					if done%perTx == perTx-1 {
						done++
						return nil
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
