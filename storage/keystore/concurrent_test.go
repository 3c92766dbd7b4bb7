package keystore

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
)

// TestConcurrent runs Seal, Open, Erase, Has and Subjects side by side
// (meant for -race). Subjects that are never erased must always round
// trip; erasable ones may also give ErrNoKey (erased) or ErrDecrypt
// (erased, then given a new key by a later Seal), never a wrong plaintext.
// Afterwards the file on disk must agree with memory.
func TestConcurrent(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	stable := []string{"user:1", "user:2", "user:3"}
	erasable := []string{"room:1", "room:2", "room:3", "room:4"}
	const workers, rounds = 8, 150

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	last := make([]map[string][]byte, workers) // per worker: stable subject → a ciphertext
	for w := range workers {
		last[w] = map[string][]byte{}
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range rounds {
				err := func() error {
					switch op := rng.IntN(20); {
					case op == 0:
						return s.Erase(erasable[rng.IntN(len(erasable))])
					case op < 3:
						_ = s.Has(erasable[rng.IntN(len(erasable))])
						_ = s.Subjects()
						return nil
					case op < 10:
						subject := stable[rng.IntN(len(stable))]
						msg := fmt.Sprintf("w%d i%d %s", w, i, subject)
						ct, err := s.Seal(subject, []byte(msg), []byte(subject))
						if err != nil {
							return err
						}
						pt, err := s.Open(subject, ct, []byte(subject))
						if err != nil || string(pt) != msg {
							return fmt.Errorf("stable %s: %q, %v", subject, pt, err)
						}
						last[w][subject] = ct
						return nil
					default:
						subject := erasable[rng.IntN(len(erasable))]
						msg := fmt.Sprintf("w%d i%d %s", w, i, subject)
						ct, err := s.Seal(subject, []byte(msg), nil)
						if err != nil {
							return err
						}
						pt, err := s.Open(subject, ct, nil)
						switch {
						case err == nil && string(pt) != msg:
							return fmt.Errorf("erasable %s: wrong plaintext %q", subject, pt)
						case err != nil && !errors.Is(err, ErrNoKey) && !errors.Is(err, ErrDecrypt):
							return fmt.Errorf("erasable %s: %v", subject, err)
						}
						return nil
					}
				}()
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	has := map[string]bool{}
	for _, subject := range append(stable, erasable...) {
		has[subject] = s.Has(subject)
	}
	n := s.Subjects()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir)
	if s2.Subjects() != n {
		t.Errorf("reopened: %d subjects, in memory before: %d", s2.Subjects(), n)
	}
	for subject, want := range has {
		if s2.Has(subject) != want {
			t.Errorf("reopened: Has(%s) = %v, before %v", subject, !want, want)
		}
	}
	for _, m := range last {
		for subject, ct := range m {
			if _, err := s2.Open(subject, ct, []byte(subject)); err != nil {
				t.Errorf("reopened: %s: %v", subject, err)
			}
		}
	}
}
