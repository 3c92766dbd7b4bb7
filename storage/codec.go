package storage

import (
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/bbolt"
)

// formatJSON is the format byte in front of every value written by Put. A
// new encoding gets a new byte; Decode keeps reading the old ones.
const formatJSON byte = 1

// Encode returns v as a stored value: the format byte, then JSON.
func Encode[T any](v T) ([]byte, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("storage: encode %T: %w", v, err)
	}
	return append([]byte{formatJSON}, data...), nil
}

// Decode parses a value written by Encode. It copies what it needs, so
// data may be a slice that is only valid inside a transaction.
func Decode[T any](data []byte) (T, error) {
	var v T
	if len(data) == 0 {
		return v, errors.New("storage: decode: empty value")
	}
	switch data[0] {
	case formatJSON:
		if err := json.Unmarshal(data[1:], &v); err != nil {
			return v, fmt.Errorf("storage: decode %T: %w", v, err)
		}
		return v, nil
	default:
		return v, fmt.Errorf("storage: decode %T: unknown value format %d", v, data[0])
	}
}

// Put encodes v and stores it under key.
func Put[T any](b *bbolt.Bucket, key []byte, v T) error {
	data, err := Encode(v)
	if err != nil {
		return err
	}
	if err := b.Put(key, data); err != nil {
		return fmt.Errorf("storage: put: %w", err)
	}
	return nil
}

// Get reads and decodes the value under key; ok is false if there is none.
func Get[T any](b *bbolt.Bucket, key []byte) (v T, ok bool, err error) {
	data := b.Get(key)
	if data == nil {
		return v, false, nil
	}
	v, err = Decode[T](data)
	if err != nil {
		return v, true, err
	}
	return v, true, nil
}
