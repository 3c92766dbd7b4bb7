package retention

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// roomPreview counts what the room rules would do, for dry runs, by
// reading the rooms buckets (layout in storage/doc.go, migration 6)
// without changing them. It stands in until rooms has read-only
// Idle and CountActivity methods (RoomPreview); it mirrors
// rooms.InactivateIdle (the newest event made by a person, else the
// room's creation) and rooms.PruneActivity.
type roomPreview struct{ db *storage.DB }

type roomHead struct {
	ID        uint64    `json:"id"`
	Status    string    `json:"status"`
	CreatedAt time.Time `json:"created_at"`
}

type eventHead struct {
	Kind    string    `json:"kind"`
	Author  uint64    `json:"author,omitempty"`
	Time    time.Time `json:"time"`
	Subject uint64    `json:"subject,omitempty"`
	By      uint64    `json:"by,omitempty"`
}

func (h eventHead) person() bool {
	return h.Author != 0 || h.By != 0 || (h.Kind == "meeting" && h.Subject != 0)
}

func (p roomPreview) Idle(idleSince time.Time) ([]uint64, error) {
	var ids []uint64
	err := p.db.View(func(tx *bbolt.Tx) error {
		rooms, events := tx.Bucket([]byte("rooms")), tx.Bucket([]byte("room-events"))
		if rooms == nil || events == nil {
			return nil
		}
		c := events.Cursor()
		return rooms.ForEach(func(_, v []byte) error {
			r, err := storage.Decode[roomHead](v)
			if err != nil {
				return fmt.Errorf("room: %w", err)
			}
			if r.Status != "active" {
				return nil
			}
			last := r.CreatedAt
			prefix := storage.ID(r.ID)
			end := make([]byte, 16)
			copy(end, prefix)
			binary.BigEndian.PutUint64(end[8:], ^uint64(0))
			k, ev := c.Seek(end)
			if k == nil {
				k, ev = c.Last()
			} else {
				k, ev = c.Prev()
			}
			for ; k != nil && bytes.HasPrefix(k, prefix); k, ev = c.Prev() {
				h, err := storage.Decode[eventHead](ev)
				if err != nil {
					return fmt.Errorf("event in room %d: %w", r.ID, err)
				}
				if h.person() {
					last = h.Time
					break
				}
			}
			if last.Before(idleSince) {
				ids = append(ids, r.ID)
			}
			return nil
		})
	})
	return ids, err
}

func (p roomPreview) CountActivity(before time.Time) (int, error) {
	n := 0
	err := p.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("room-activity"))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			if len(k) != 24 {
				return nil
			}
			at, _, err := storage.ParseTimeKey(k[8:])
			if err != nil {
				return err
			}
			if at.Before(before) {
				n++
			}
			return nil
		})
	})
	return n, err
}
