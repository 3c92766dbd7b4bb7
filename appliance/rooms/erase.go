package rooms

import (
	"encoding/binary"
	"fmt"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// RemoveUserEverywhere takes an erased user out of every room they are
// in: their room-members and user-rooms entries are deleted, so they are
// no longer listed as a participant, and their open subscriptions hear
// that the room is gone. What they wrote stays, sealed with the room's
// key, with AuthorID still naming their (now pseudonymous) id: the other
// participants read it as "former participant" until the room itself is
// deleted (seed 000). No system event is written (it would only repeat
// the pseudonymous id, and would count as activity in the room).
//
// A room the user was the only member of is inactivated, as when its
// last member leaves. A room whose host was the erased user is left
// without a host: co-hosts keep their rights and an administrator can
// make someone host (MakeHost) or the retention rules inactivate it.
// RoomsWithoutHost lists such rooms.
func (s *Store) RemoveUserEverywhere(userID uint64) error {
	if userID == 0 {
		return nil
	}
	var removed []uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		removed = removed[:0]
		v := s.bind(tx)
		for _, k := range prefixKeys(v.userRooms, storage.ID(userID)) {
			roomID := binary.BigEndian.Uint64(k[8:])
			if err := v.removeMember(roomID, userID); err != nil {
				return err
			}
			removed = append(removed, roomID)
			if len(v.memberIDs(roomID)) > 0 {
				continue
			}
			r, ok, err := v.room(roomID)
			if err != nil {
				return err
			}
			if ok && r.Status == StatusActive {
				if err := v.inactivate(r, 0); err != nil {
					return err
				}
			}
		}
		// Member rows whose user-rooms entry went missing (out of step)
		// would still list the user: sweep room-members too.
		var stray [][]byte
		err := v.members.ForEach(func(k, _ []byte) error {
			if len(k) == 16 && binary.BigEndian.Uint64(k[8:]) == userID {
				stray = append(stray, append([]byte(nil), k...))
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		for _, k := range stray {
			if err := v.members.Delete(k); err != nil {
				return fmt.Errorf("rooms: %w", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, roomID := range removed {
		s.hub.send([]uint64{userID}, Update{Removed: roomID})
	}
	return nil
}

// RoomsWithoutHost lists the rooms that have members but no host (left
// so by an erasure), for the administrator to hand over.
func (s *Store) RoomsWithoutHost() ([]uint64, error) {
	var out []uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		return v.rooms.ForEach(func(k, _ []byte) error {
			roomID := binary.BigEndian.Uint64(k)
			members, err := v.memberList(roomID)
			if err != nil || len(members) == 0 {
				return err
			}
			for _, m := range members {
				if m.Role == RoleHost {
					return nil
				}
			}
			out = append(out, roomID)
			return nil
		})
	})
	return out, err
}
