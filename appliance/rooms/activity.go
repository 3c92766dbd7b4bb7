package rooms

import (
	"bytes"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Activity returns the room's activity log: which users were active in
// it on which days (UTC), by day, then user. It holds no content and is
// kept after the room is deleted, for the retention rules; it needs no
// actor because it is for the box's own jobs and the administrator.
func (s *Store) Activity(roomID uint64) ([]ActivityEntry, error) {
	var out []ActivityEntry
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		prefix := storage.ID(roomID)
		c := tx.Bucket(bucketActivity).Cursor()
		for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
			at, user, err := storage.ParseTimeKey(k[8:])
			if err != nil {
				return fmt.Errorf("rooms: activity of room %d: %w", roomID, err)
			}
			out = append(out, ActivityEntry{UserID: user, At: at})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PruneActivity deletes activity-log entries of days before the time
// given, in every room (the retention rules), and returns how many.
func (s *Store) PruneActivity(before time.Time) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bbolt.Tx) error {
		n = 0
		b := tx.Bucket(bucketActivity)
		var old [][]byte
		err := b.ForEach(func(k, _ []byte) error {
			if len(k) != 24 {
				return nil
			}
			at, _, err := storage.ParseTimeKey(k[8:])
			if err != nil {
				return err
			}
			if at.Before(before) {
				old = append(old, bytes.Clone(k))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rooms: activity: %w", err)
		}
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return fmt.Errorf("rooms: activity: %w", err)
			}
		}
		n = len(old)
		return nil
	})
	return n, err
}
