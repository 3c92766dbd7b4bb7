package storage

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"go.etcd.io/bbolt"
)

// ID returns the 8-byte big-endian key for id, so that bbolt's byte order
// is numeric order.
func ID(id uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id)
}

// ParseID is the inverse of ID.
func ParseID(key []byte) (uint64, error) {
	if len(key) != 8 {
		return 0, fmt.Errorf("storage: id key is %d bytes, want 8", len(key))
	}
	return binary.BigEndian.Uint64(key), nil
}

// NextID returns the bucket's next sequence number (1, 2, ...). It needs a
// writable transaction; the sequence survives compaction.
func NextID(b *bbolt.Bucket) (uint64, error) {
	id, err := b.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("storage: next id: %w", err)
	}
	return id, nil
}

// Time keys hold unix nanoseconds as an int64 with the sign bit flipped
// (offset binary), so byte order is time order for times before 1970 too
// (birth dates). Times outside int64 nanoseconds (before 1678 or after
// 2262, including the zero time.Time) are clamped to the ends.
const signBit = 1 << 63

// TimeKey returns the 16-byte key t||id: time first so a cursor walks in
// time order, the id to keep keys unique and ordered within one instant.
func TimeKey(t time.Time, id uint64) []byte {
	var ns int64
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		ns = math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		ns = math.MaxInt64
	default:
		ns = t.UnixNano()
	}
	k := make([]byte, 0, 16)
	k = binary.BigEndian.AppendUint64(k, uint64(ns)^signBit)
	return binary.BigEndian.AppendUint64(k, id)
}

// ParseTimeKey is the inverse of TimeKey. The time is in UTC.
func ParseTimeKey(key []byte) (time.Time, uint64, error) {
	if len(key) != 16 {
		return time.Time{}, 0, fmt.Errorf("storage: time key is %d bytes, want 16", len(key))
	}
	ns := int64(binary.BigEndian.Uint64(key[:8]) ^ signBit)
	return time.Unix(0, ns).UTC(), binary.BigEndian.Uint64(key[8:]), nil
}
