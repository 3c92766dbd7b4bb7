package errorlog

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"clinicbox/storage"
)

func TestRecordRecentPrune(t *testing.T) {
	db, err := storage.Open(filepath.Join(t.TempDir(), "clinicbox.db"), storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	l := New(db, func() time.Time { return now })
	for i, code := range []string{"http.500./rooms/{id}", "notify.smtp", "http.500./start"} {
		now = now.AddDate(1, 0, 0)
		if err := l.Record(code, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Record("Anna Andersson failed", 1); !errors.Is(err, ErrCode) {
		t.Fatalf("free text must be refused: %v", err)
	}
	got, err := l.Recent(10)
	if err != nil || len(got) != 3 || got[0].Code != "http.500./start" || got[2].UserID != 1 {
		t.Fatalf("recent: %+v %v", got, err)
	}
	cut := time.Date(2028, 6, 1, 0, 0, 0, 0, time.UTC)
	if n, _ := l.Prune(cut, true); n != 2 {
		t.Fatalf("dry run counts %d", n)
	}
	if got, _ := l.Recent(10); len(got) != 3 {
		t.Fatal("a dry run deleted")
	}
	if n, _ := l.Prune(cut, false); n != 2 {
		t.Fatalf("prune %d", n)
	}
	if got, _ := l.Recent(10); len(got) != 1 || got[0].Code != "http.500./start" {
		t.Fatalf("after prune: %+v", got)
	}
}
