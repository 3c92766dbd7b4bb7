package rooms

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Membership is one room a user takes part in, for the data export
// (privacy/export).
type Membership struct {
	Room     Room
	Role     Role
	JoinedAt time.Time
}

// Memberships lists the rooms userID takes part in, by room id. It is
// the data subject's own view for their export: not an access by staff,
// so nothing is logged. Rooms whose key is gone (deleted meanwhile) are
// left out.
func (s *Store) Memberships(userID uint64) ([]Membership, error) {
	var out []Membership
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		v := s.bind(tx)
		for _, k := range prefixKeys(v.userRooms, storage.ID(userID)) {
			roomID := binary.BigEndian.Uint64(k[8:])
			m, ok, err := v.member(roomID, userID)
			if err != nil {
				return err
			}
			r, rok, err := v.room(roomID)
			if err != nil {
				return err
			}
			if !ok || !rok {
				continue
			}
			room, err := v.publicRoom(r)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, Membership{Room: room, Role: m.Role, JoinedAt: m.JoinedAt})
		}
		return nil
	})
	return out, err
}

// Authored returns up to limit of the messages and attachments userID
// wrote in room roomID with event ids above afterID, oldest first: the
// export pages through them (pass the last id again) so that neither a
// long read transaction nor a whole timeline is held. Only the author's
// own events are opened; nothing is logged (see Memberships).
func (s *Store) Authored(userID, roomID, afterID uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = MaxSinceLimit
	}
	var out []Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		v := s.bind(tx)
		prefix := storage.ID(roomID)
		c := v.events.Cursor()
		for k, val := c.Seek(eventKey(roomID, afterID+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, val = c.Next() {
			h, err := storage.Decode[eventHead](val)
			if err != nil {
				return fmt.Errorf("rooms: event in room %d: %w", roomID, err)
			}
			if h.Author != userID || (h.Kind != KindMessage && h.Kind != KindAttachment) {
				continue
			}
			rec, err := storage.Decode[eventRecord](val)
			if err != nil {
				return fmt.Errorf("rooms: event in room %d: %w", roomID, err)
			}
			e, err := s.publicEvent(roomID, binary.BigEndian.Uint64(k[8:]), rec)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}
