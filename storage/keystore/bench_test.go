package keystore

import (
	"fmt"
	"path/filepath"
	"testing"
)

// BenchmarkSeal: a 1 KiB message for a subject that has its key.
func BenchmarkSeal(b *testing.B) {
	s := openT(b, filepath.Join(b.TempDir(), "keys"))
	msg := make([]byte, 1024)
	if _, err := s.Seal("room:7", msg, nil); err != nil {
		b.Fatal(err)
	}
	aad := []byte("messages/0000000000000001")
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal("room:7", msg, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkOpen: the read side of BenchmarkSeal.
func BenchmarkOpen(b *testing.B) {
	s := openT(b, filepath.Join(b.TempDir(), "keys"))
	msg := make([]byte, 1024)
	aad := []byte("messages/0000000000000001")
	ct, err := s.Seal("room:7", msg, aad)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Open("room:7", ct, aad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealParallel: many requests sealing for different existing
// subjects at once.
func BenchmarkSealParallel(b *testing.B) {
	s := openT(b, filepath.Join(b.TempDir(), "keys"))
	populate(b, s, "user", 1000)
	msg := make([]byte, 1024)
	b.SetBytes(int64(len(msg)))
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := s.Seal(fmt.Sprintf("user:%d", i%1000), msg, nil); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchmarkNewSubject: the first Seal for a subject, which rewrites and
// fsyncs subjects.keys, with n subjects already present.
func BenchmarkNewSubject(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			s := openT(b, filepath.Join(b.TempDir(), "keys"))
			populate(b, s, "user", n)
			i := 0
			for b.Loop() {
				if _, err := s.Seal(fmt.Sprintf("new:%d", i), []byte("x"), nil); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkErase: erasing one of n subjects (a rewrite and fsync).
func BenchmarkErase(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			s := openT(b, filepath.Join(b.TempDir(), "keys"))
			populate(b, s, "user", n)
			i := 0
			for b.Loop() {
				if i == n {
					b.StopTimer()
					populate(b, s, "user", n)
					i = 0
					b.StartTimer()
				}
				if err := s.Erase(fmt.Sprintf("user:%d", i)); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkOpenStore: opening a key store of n subjects (unwraps all).
func BenchmarkOpenStore(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprintf("subjects=%d", n), func(b *testing.B) {
			dir := filepath.Join(b.TempDir(), "keys")
			s, err := Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			populate(b, s, "user", n)
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				s, err := Open(dir)
				if err != nil {
					b.Fatal(err)
				}
				_ = s.Close()
			}
		})
	}
}
