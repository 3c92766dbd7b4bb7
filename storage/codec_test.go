package storage

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

type record struct {
	Name    string            `json:"name"`
	Count   int               `json:"count,omitempty"`
	Blob    []byte            `json:"blob,omitempty"`
	When    time.Time         `json:"when"`
	Tags    map[string]string `json:"tags,omitempty"`
	Next    *record           `json:"next,omitempty"`
	Flagged bool              `json:"flagged,omitempty"`
}

func TestPutGet(t *testing.T) {
	db := openTest(t, dbPath(t), Options{})
	in := record{Name: "x", Count: 3, Blob: []byte{0, 1, 2}, When: time.Date(2025, 5, 1, 8, 0, 0, 0, time.UTC),
		Tags: map[string]string{"a": "b"}, Next: &record{Name: "y"}}
	var got record
	var ok bool
	if err := db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket([]byte("records"))
		if err != nil {
			return err
		}
		if err := Put(b, ID(1), in); err != nil {
			return err
		}
		if raw := b.Get(ID(1)); raw[0] != formatJSON || !strings.HasPrefix(string(raw[1:]), `{"name":"x"`) {
			t.Errorf("stored value = %q, want format byte 1 then JSON", raw)
		}
		got, ok, err = Get[record](b, ID(1))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// got outlives the transaction: it must not share the mmap'd bytes.
	if !ok || got.Name != in.Name || got.Count != in.Count || string(got.Blob) != string(in.Blob) ||
		!got.When.Equal(in.When) || got.Tags["a"] != "b" || got.Next == nil || got.Next.Name != "y" {
		t.Errorf("Get = %+v, %v; want %+v", got, ok, in)
	}

	_ = db.View(func(tx *bbolt.Tx) error {
		v, ok, err := Get[record](tx.Bucket([]byte("records")), ID(2))
		if ok || err != nil || v.Name != "" {
			t.Errorf("Get of a missing key = %+v, %v, %v", v, ok, err)
		}
		return nil
	})
}

func TestDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "empty value"},
		{"unknown format", []byte("\x02{}"), "unknown value format 2"},
		{"bad json", []byte("\x01{"), "storage: decode"},
		{"wrong type", []byte("\x01[1,2]"), "storage: decode"},
		{"trailing data", []byte("\x01{} {}"), "storage: decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode[record](tc.data)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Decode(%q) = %v, want an error containing %q", tc.data, err, tc.want)
			}
		})
	}
	if _, err := Encode(func() {}); err == nil {
		t.Error("Encode of a func succeeded")
	}
}
