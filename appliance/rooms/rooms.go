package rooms

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Create makes a room in a unit, with a as its host. Only staff and
// admins create rooms; staff only in their own units. The caller checks
// that the unit exists.
func (s *Store) Create(a Actor, title string, unitID uint64) (Room, error) {
	if a.ID == 0 || !isStaff(a) {
		return Room{}, ErrForbidden
	}
	title = strings.TrimSpace(strings.ToValidUTF8(title, "\uFFFD"))
	if title == "" {
		return Room{}, &FieldError{Field: "title", Msg: "the room needs a title", Err: ErrEmpty}
	}
	if utf8.RuneCountInString(title) > MaxTitle {
		return Room{}, &FieldError{Field: "title", Msg: fmt.Sprintf("the title is longer than %d characters", MaxTitle), Err: ErrTooLong}
	}
	if unitID == 0 {
		return Room{}, &FieldError{Field: "unit", Msg: "choose the unit the room belongs to"}
	}
	if a.Role != "admin" && !slices.Contains(a.Units, unitID) {
		return Room{}, &FieldError{Field: "unit", Msg: "you can only create rooms in your own units", Err: ErrForbidden}
	}
	var rec roomRecord
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		id, err := storage.NextID(v.rooms)
		if err != nil {
			return err
		}
		// The first Seal creates the room's key (and writes it to disk
		// before returning). Room ids are never reused, so a key made
		// here for a transaction that then fails serves the retry.
		sealed, err := s.keys.Seal(Subject(id), []byte(title), aadTitle)
		if err != nil {
			return fmt.Errorf("rooms: seal: %w", err)
		}
		now := s.now().UTC()
		rec = roomRecord{ID: id, Title: sealed, UnitID: unitID, Status: StatusActive, CreatedBy: a.ID,
			CreatedAt: now}
		if err := v.putRoom(rec); err != nil {
			return err
		}
		if err := v.putMember(id, a.ID, memberRecord{Role: RoleHost, UserRole: a.Role, JoinedAt: now}); err != nil {
			return err
		}
		if err := v.userRooms.Put(userRoomKey(a.ID, id), []byte{}); err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		return v.markActive(id, a.ID, now)
	})
	if err != nil {
		return Room{}, err
	}
	var room Room
	err = s.db.View(func(tx *bbolt.Tx) error {
		room, err = s.bind(tx).publicRoom(rec)
		return err
	})
	return room, err
}

// AddMember invites userID (whose identity role is userRole) to the room
// as role. Only the host and co-hosts of an active room invite; only the
// host makes co-hosts, and only staff and admins can be co-hosts. For a
// user already in the room it is a no-op, or a change of role (host
// only; the host's own role changes through MakeHost).
func (s *Store) AddMember(a Actor, roomID, userID uint64, userRole string, role Role) error {
	switch role {
	case RoleParticipant, RoleCohost:
	case RoleHost:
		return &FieldError{Field: "role", Msg: "a room has one host; invite a co-host, or hand the room over", Err: ErrForbidden}
	default:
		return &FieldError{Field: "role", Msg: fmt.Sprintf("%q is not a room role", role)}
	}
	if userID == 0 || !validUserRole(userRole) {
		return &FieldError{Field: "user", Msg: "this user cannot take part in rooms"}
	}
	if role == RoleCohost && userRole != "staff" && userRole != "admin" {
		return &FieldError{Field: "role", Msg: "only staff can be co-hosts", Err: ErrForbidden}
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if me.Role != RoleHost && me.Role != RoleCohost {
			return ErrForbidden
		}
		if r.Status != StatusActive {
			return ErrInactive
		}
		old, ok, err := v.member(roomID, userID)
		if err != nil {
			return err
		}
		switch {
		case ok && old.Role == role:
			return nil
		case ok && old.Role == RoleHost:
			return &FieldError{Field: "role", Msg: "the host stays host until they hand the room to someone else", Err: ErrForbidden}
		case ok && me.Role != RoleHost:
			return ErrForbidden
		case ok:
			old.Role = role
			if err := v.putMember(roomID, userID, old); err != nil {
				return err
			}
			_, err := v.systemEvent(roomID, CodeMemberRole, userID, a.ID)
			return err
		case role == RoleCohost && me.Role != RoleHost:
			return ErrForbidden
		}
		if err := v.putMember(roomID, userID, memberRecord{Role: role, UserRole: userRole, JoinedAt: s.now().UTC()}); err != nil {
			return err
		}
		if err := v.userRooms.Put(userRoomKey(userID, roomID), []byte{}); err != nil {
			return fmt.Errorf("rooms: %w", err)
		}
		_, err = v.systemEvent(roomID, CodeMemberAdded, userID, a.ID)
		return err
	})
}

// MakeHost hands the room to userID, a staff member or admin in it; the
// host becomes a co-host. Only the host may; the room may be inactive
// (a host hands it over before leaving).
func (s *Store) MakeHost(a Actor, roomID, userID uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		_, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if me.Role != RoleHost {
			return ErrForbidden
		}
		if userID == a.ID {
			return nil
		}
		m, ok, err := v.member(roomID, userID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotMember
		}
		if m.UserRole != "staff" && m.UserRole != "admin" {
			return &FieldError{Field: "user", Msg: "only staff can host a room", Err: ErrForbidden}
		}
		m.Role, me.Role = RoleHost, RoleCohost
		if err := v.putMember(roomID, userID, m); err != nil {
			return err
		}
		if err := v.putMember(roomID, a.ID, me); err != nil {
			return err
		}
		_, err = v.systemEvent(roomID, CodeMemberHost, userID, a.ID)
		return err
	})
}

// RemoveMember takes userID out of the room (host and co-hosts; only the
// host removes co-hosts; nobody removes the host). Also in an inactive
// room: taking access away is always possible. The history stays.
func (s *Store) RemoveMember(a Actor, roomID, userID uint64) error {
	if userID == a.ID {
		return s.Leave(a, roomID)
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		_, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if me.Role != RoleHost && me.Role != RoleCohost {
			return ErrForbidden
		}
		m, ok, err := v.member(roomID, userID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotMember
		}
		if m.Role == RoleHost || (m.Role == RoleCohost && me.Role != RoleHost) {
			return ErrForbidden
		}
		if err := v.removeMember(roomID, userID); err != nil {
			return err
		}
		_, err = v.systemEvent(roomID, CodeMemberRemoved, userID, a.ID)
		return err
	})
	if err != nil {
		return err
	}
	s.hub.send([]uint64{userID}, Update{Removed: roomID})
	return nil
}

func (v *view) removeMember(roomID, userID uint64) error {
	if err := v.members.Delete(memberKey(roomID, userID)); err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	if err := v.userRooms.Delete(userRoomKey(userID, roomID)); err != nil {
		return fmt.Errorf("rooms: %w", err)
	}
	return nil
}

// Leave takes a out of the room; the history stays for the others. The
// host must hand the room over first (MakeHost) unless nobody else is
// left; a room whose last participant leaves becomes inactive (nobody
// can write in it any more) and is deleted by the retention rules.
func (s *Store) Leave(a Actor, roomID uint64) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		others := slices.DeleteFunc(v.memberIDs(roomID), func(id uint64) bool { return id == a.ID })
		if me.Role == RoleHost && len(others) > 0 {
			return &FieldError{Field: "room", Msg: "make someone else host first", Err: ErrForbidden}
		}
		if err := v.removeMember(roomID, a.ID); err != nil {
			return err
		}
		if _, err := v.systemEvent(roomID, CodeMemberLeft, a.ID, a.ID); err != nil {
			return err
		}
		if len(others) == 0 && r.Status == StatusActive {
			return v.inactivate(r, 0)
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.hub.send([]uint64{a.ID}, Update{Removed: roomID})
	return nil
}

// Get returns the room and its participants (by the time they joined),
// or ErrNotFound when a is not in it.
func (s *Store) Get(a Actor, roomID uint64) (Room, []Member, error) {
	var (
		room    Room
		members []Member
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, _, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if room, err = v.publicRoom(r); err != nil {
			return err
		}
		members, err = v.memberList(roomID)
		return err
	})
	if err != nil {
		return Room{}, nil, err
	}
	slices.SortStableFunc(members, func(x, y Member) int { return x.JoinedAt.Compare(y.JoinedAt) })
	return room, members, nil
}

// List returns a's rooms, the one with the newest event first, each with
// its number of unread messages and attachments (by others, after a's
// last read event; at most MaxUnread).
func (s *Store) List(a Actor) ([]Summary, error) {
	var out []Summary
	err := s.db.View(func(tx *bbolt.Tx) error {
		out = out[:0]
		v := s.bind(tx)
		for _, k := range prefixKeys(v.userRooms, storage.ID(a.ID)) {
			roomID := binary.BigEndian.Uint64(k[8:])
			r, m, err := v.access(a, roomID)
			if errors.Is(err, ErrNotFound) {
				continue // out of step; the record is what counts
			}
			if err != nil {
				return err
			}
			room, err := v.publicRoom(r)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			unread, err := v.unread(roomID, a.ID, m.LastRead, room.LastEventID)
			if err != nil {
				return err
			}
			out = append(out, Summary{Room: room, Unread: unread, LastEventAt: room.LastEventAt, MyRole: m.Role})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y Summary) int {
		if c := y.LastEventAt.Compare(x.LastEventAt); c != 0 {
			return c
		}
		return cmp.Compare(y.Room.ID, x.Room.ID)
	})
	return out, nil
}

// unread counts messages and attachments by others after lastRead.
func (v *view) unread(roomID, userID, lastRead, lastEvent uint64) (int, error) {
	if lastEvent <= lastRead {
		return 0, nil
	}
	n := 0
	prefix := storage.ID(roomID)
	c := v.events.Cursor()
	for k, val := c.Seek(eventKey(roomID, lastRead+1)); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		h, err := storage.Decode[eventHead](val)
		if err != nil {
			return 0, fmt.Errorf("rooms: event in room %d: %w", roomID, err)
		}
		if (h.Kind == KindMessage || h.Kind == KindAttachment) && h.Author != userID {
			if n++; n >= MaxUnread {
				break
			}
		}
	}
	return n, nil
}

// Inactivate makes the room read-only (host and co-hosts). Inactivating
// an inactive room does nothing.
func (s *Store) Inactivate(a Actor, roomID uint64) error {
	return s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if me.Role != RoleHost && me.Role != RoleCohost {
			return ErrForbidden
		}
		if r.Status != StatusActive {
			return nil
		}
		return v.inactivate(r, a.ID)
	})
}

// inactivate makes the room read-only, by by (0: the box).
func (v *view) inactivate(r roomRecord, by uint64) error {
	r.Status, r.InactivatedAt = StatusInactive, v.s.now().UTC()
	if err := v.putRoom(r); err != nil {
		return err
	}
	_, err := v.systemEvent(r.ID, CodeRoomInactivated, 0, by)
	return err
}

// InactivateIdle inactivates every active room with no activity since
// idleSince (the retention rule: 2 years by default) and returns their
// ids.
func (s *Store) InactivateIdle(idleSince time.Time) ([]uint64, error) {
	var ids []uint64
	err := s.db.Update(func(tx *bbolt.Tx) error {
		ids = ids[:0]
		v := s.bind(tx)
		var idle []roomRecord
		err := v.rooms.ForEach(func(_, val []byte) error {
			r, err := storage.Decode[roomRecord](val)
			if err != nil {
				return fmt.Errorf("rooms: %w", err)
			}
			if r.Status != StatusActive {
				return nil
			}
			st, err := v.state(r)
			if err != nil {
				return err
			}
			if st.lastActivityAt.Before(idleSince) {
				idle = append(idle, r)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, r := range idle {
			if err := v.inactivate(r, 0); err != nil {
				return err
			}
			ids = append(ids, r.ID)
		}
		return nil
	})
	return ids, err
}

// Expired returns the inactive rooms inactivated before the time given
// (the retention rule: 5 years by default), for Purge.
func (s *Store) Expired(inactivatedBefore time.Time) ([]uint64, error) {
	var ids []uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		return tx.Bucket(bucketRooms).ForEach(func(_, val []byte) error {
			r, err := storage.Decode[roomRecord](val)
			if err != nil {
				return fmt.Errorf("rooms: %w", err)
			}
			if r.Status == StatusInactive && r.InactivatedAt.Before(inactivatedBefore) {
				ids = append(ids, r.ID)
			}
			return nil
		})
	})
	return ids, err
}

// Delete deletes the room at once (host only): its events, participants,
// attachment records and the room record, and erases its key, so that
// nothing of its content can be read again, also from the file's free
// pages. The content-free activity log stays. It returns the ids of the
// room's attachments for the caller to delete the files; if the records
// are gone but the key could not be erased it returns them with the
// error.
func (s *Store) Delete(a Actor, roomID uint64) (attachmentIDs []string, err error) {
	return s.delete(roomID, false, func(v *view) error {
		_, me, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		if me.Role != RoleHost {
			return ErrForbidden
		}
		return v.markActive(roomID, a.ID, s.now())
	})
}

// Purge deletes a room as Delete does, for the retention rules: no actor,
// no permission check. For a room that is already gone it only makes
// sure the key is erased (after a Delete whose erasure failed) and
// returns ErrNotFound.
func (s *Store) Purge(roomID uint64) (attachmentIDs []string, err error) {
	return s.delete(roomID, true, func(v *view) error {
		_, ok, err := v.room(roomID)
		if err == nil && !ok {
			err = ErrNotFound
		}
		return err
	})
}

func (s *Store) delete(roomID uint64, purge bool, check func(*view) error) ([]string, error) {
	// No Seal for this room may run from here to the erasure: it would
	// make a new key.
	mu := s.stripe(roomID)
	mu.Lock()
	defer mu.Unlock()
	var (
		files   []string
		members []uint64
	)
	err := s.db.Update(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		if err := check(v); err != nil {
			return err
		}
		var err error
		files, members, err = v.deleteRoom(roomID)
		return err
	})
	if purge && errors.Is(err, ErrNotFound) && roomID != 0 {
		if eraseErr := s.keys.Erase(Subject(roomID)); eraseErr != nil {
			return nil, fmt.Errorf("rooms: erase the key of room %d: %w", roomID, eraseErr)
		}
		return nil, err
	}
	if err != nil {
		return nil, err
	}
	s.hub.send(members, Update{Removed: roomID})
	if err := s.keys.Erase(Subject(roomID)); err != nil {
		return files, fmt.Errorf("rooms: room %d is deleted but its key could not be erased; Purge erases it: %w", roomID, err)
	}
	return files, nil
}

// deleteRoom removes every record of the room except its activity log.
func (v *view) deleteRoom(roomID uint64) (files []string, members []uint64, err error) {
	prefix := storage.ID(roomID)
	attachmentField := []byte(`"attachment":`)
	for _, k := range prefixKeys(v.events, prefix) {
		if val := v.events.Get(k); bytes.Contains(val, attachmentField) {
			rec, err := storage.Decode[eventRecord](val)
			if err != nil {
				return nil, nil, fmt.Errorf("rooms: event in room %d: %w", roomID, err)
			}
			if rec.Attachment != "" {
				files = append(files, rec.Attachment)
			}
		}
		if err := v.events.Delete(k); err != nil {
			return nil, nil, fmt.Errorf("rooms: %w", err)
		}
	}
	for _, id := range v.memberIDs(roomID) {
		if err := v.removeMember(roomID, id); err != nil {
			return nil, nil, err
		}
		members = append(members, id)
	}
	for _, f := range files {
		if err := v.attachments.Delete([]byte(f)); err != nil {
			return nil, nil, fmt.Errorf("rooms: %w", err)
		}
	}
	if err := v.rooms.Delete(storage.ID(roomID)); err != nil {
		return nil, nil, fmt.Errorf("rooms: %w", err)
	}
	return files, members, nil
}
