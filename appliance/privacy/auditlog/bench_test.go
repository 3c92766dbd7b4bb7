package auditlog

import (
	"sync/atomic"
	"testing"

	"go.etcd.io/bbolt"
)

func reportRate(b *testing.B, what string) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, what+"/s")
	}
}

// BenchmarkAppend: one durable append at a time through Append. Each
// waits out the batch delay alone (storage's batchDelay, 1 ms), then
// an fsync.
func BenchmarkAppend(b *testing.B) {
	_, l := newLog(b)
	e := sample(1)
	b.ResetTimer()
	for b.Loop() {
		if _, err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "appends")
}

// BenchmarkAppendParallel: many goroutines appending at once share
// commits (DB.Batch). Run with -cpu to vary the writers (GOMAXPROCS ×
// the parallelism below).
func BenchmarkAppendParallel(b *testing.B) {
	_, l := newLog(b)
	var n atomic.Uint64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := sample(int(n.Add(1) % 1000))
			if _, err := l.Append(e); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, "appends")
}

// BenchmarkAppendTxUpdate: one append per DB.Update, the cost of logging
// inside a caller's own transaction (no batch delay): the baseline for
// BenchmarkAppend.
func BenchmarkAppendTxUpdate(b *testing.B) {
	db, l := newLog(b)
	e := sample(1)
	b.ResetTimer()
	for b.Loop() {
		if err := db.Update(func(tx *bbolt.Tx) error {
			_, err := l.AppendTx(tx, e)
			return err
		}); err != nil {
			b.Fatal(err)
		}
	}
	reportRate(b, "appends")
}

// BenchmarkVerify: entries verified per second on a 100 000-entry log.
func BenchmarkVerify(b *testing.B) {
	db, l := newLog(b)
	const n = 100_000
	fill(b, db, l, n)
	b.ResetTimer()
	for b.Loop() {
		checked, problems, err := l.Verify()
		if err != nil || len(problems) > 0 || checked != n {
			b.Fatal(checked, problems, err)
		}
	}
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)*n/s, "entries/s")
	}
}
