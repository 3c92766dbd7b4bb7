package storage

import (
	"bytes"
	"testing"
	"time"
)

// FuzzDecode: malformed values give errors, never panics, and what does
// decode re-encodes to a fixed point.
func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		"", "\x00", "\x01", "\x02{}", "\x01{}", "\x01null", "\x01{\"name\":\"a\",\"count\":1}",
		"\x01{\"when\":\"2025-01-01T00:00:00Z\",\"tags\":{\"a\":\"b\"},\"next\":{\"name\":\"x\"}}",
		"\x01{\"blob\":\"AAEC\"}", "\x01{\"count\":1e400}", "\x01[", "\x01{\"next\":{\"next\":{\"next\":null}}}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode[record](data)
		if err != nil {
			return
		}
		enc, err := Encode(v)
		if err != nil {
			t.Fatalf("Encode of a decoded value: %v", err)
		}
		v2, err := Decode[record](enc)
		if err != nil {
			t.Fatalf("Decode of %q: %v", enc, err)
		}
		enc2, err := Encode(v2)
		if err != nil || !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point: %q then %q (%v)", enc, enc2, err)
		}
	})
}

// FuzzParseTimeKey: any 16 bytes are a key that round-trips; anything
// else is an error.
func FuzzParseTimeKey(f *testing.F) {
	f.Add([]byte{})
	f.Add(TimeKey(time.Unix(0, 0), 0))
	f.Add(TimeKey(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 42))
	f.Add(TimeKey(time.Time{}, 1))
	f.Add(bytes.Repeat([]byte{0xff}, 16))
	f.Add(make([]byte, 17))
	f.Fuzz(func(t *testing.T, key []byte) {
		tm, id, err := ParseTimeKey(key)
		if len(key) != 16 {
			if err == nil {
				t.Fatalf("ParseTimeKey accepted %d bytes", len(key))
			}
			return
		}
		if err != nil {
			t.Fatalf("ParseTimeKey(%x): %v", key, err)
		}
		if got := TimeKey(tm, id); !bytes.Equal(got, key) {
			t.Fatalf("TimeKey(ParseTimeKey(%x)) = %x", key, got)
		}
	})
}
