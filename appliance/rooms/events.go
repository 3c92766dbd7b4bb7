package rooms

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/storage"
)

// Page sizes.
const (
	DefaultTimelineLimit = 50
	MaxTimelineLimit     = 500
	DefaultSinceLimit    = 100
	MaxSinceLimit        = 1000
)

// appendEvent stores rec as the next event of room roomID, numbered
// from the global sequence, notes its person in the activity log, and
// arranges for the event to reach the room's members, as they are at
// this point of the transaction, once it commits. It returns the event
// with its id. encoded, if not nil, is rec already encoded (outside the
// transaction, where concurrent writers do not wait for it).
func (v *view) appendEvent(roomID uint64, rec eventRecord, encoded []byte, pub Event) (Event, error) {
	id, err := storage.NextID(v.eventsSeqBkt)
	if err != nil {
		return Event{}, fmt.Errorf("rooms: %w", err)
	}
	if encoded == nil {
		if encoded, err = storage.Encode(rec); err != nil {
			return Event{}, err
		}
	}
	if err := v.events.Put(eventKey(roomID, id), encoded); err != nil {
		return Event{}, fmt.Errorf("rooms: event: %w", err)
	}
	head := eventHead{Kind: rec.Kind, Author: rec.Author, Time: rec.Time, Subject: rec.Subject, By: rec.By}
	if err := v.markActive(roomID, head.person(), rec.Time); err != nil {
		return Event{}, err
	}
	pub.ID, pub.RoomID, pub.Kind, pub.Time = id, roomID, rec.Kind, rec.Time
	pub.AuthorID, pub.Code, pub.Subject, pub.By = rec.Author, rec.Code, rec.Subject, rec.By
	to := v.memberIDs(roomID)
	ev := pub
	// Registered on this transaction only: if bbolt rolls it back and
	// runs the function again, the new run registers its own.
	v.tx.OnCommit(func() { v.s.seq.committed(delivery{ev: &ev, to: to}) })
	return pub, nil
}

// systemEvent appends a system event about subject, caused by by.
func (v *view) systemEvent(roomID uint64, code string, subject, by uint64) (Event, error) {
	return v.appendEvent(roomID, eventRecord{Kind: KindSystem, Time: v.s.now().UTC(), Code: code, Subject: subject, By: by}, nil, Event{})
}

// cleanText makes a message storable: valid UTF-8, LF line ends, no
// spaces around it, 1 to MaxText characters.
func cleanText(text string) (string, error) {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.TrimSpace(text)
	if text == "" {
		return "", &FieldError{Field: "text", Msg: "the message is empty", Err: ErrEmpty}
	}
	if utf8.RuneCountInString(text) > MaxText {
		return "", &FieldError{Field: "text", Msg: fmt.Sprintf("the message is longer than %d characters", MaxText), Err: ErrTooLong}
	}
	return text, nil
}

// writable checks, before sealing and before joining a batch, that a may
// write in the room. Failing inside Batch is legal but costly: bbolt
// then rolls back the whole batch and runs every other call again.
func (s *Store) writable(a Actor, roomID uint64) error {
	return s.db.View(func(tx *bbolt.Tx) error {
		_, err := s.bind(tx).writer(a, roomID)
		return err
	})
}

// writer is access for posting: a's membership, and only the status of
// the room (ErrInactive unless active).
func (v *view) writer(a Actor, roomID uint64) (memberRecord, error) {
	if a.ID == 0 || roomID == 0 {
		return memberRecord{}, ErrNotFound
	}
	m, ok, err := v.member(roomID, a.ID)
	if err != nil {
		return m, err
	}
	if !ok {
		return m, ErrNotFound
	}
	st, ok, err := v.status(roomID)
	switch {
	case err != nil:
		return m, err
	case !ok:
		return m, ErrNotFound
	case st != StatusActive:
		return m, ErrInactive
	}
	return m, nil
}

// Post adds a message from a to the room. The message is on disk
// (fsynced) when Post returns; concurrent posts share commits.
func (s *Store) Post(a Actor, roomID uint64, text string) (Event, error) {
	text, err := cleanText(text)
	if err != nil {
		return Event{}, err
	}
	return s.post(a, roomID, eventBody{Text: text}, eventRecord{Kind: KindMessage}, Event{Text: text})
}

// PostAttachment adds a file to the room's timeline. The file is already
// stored (rooms/attachments), sealed with the room's key.
func (s *Store) PostAttachment(a Actor, roomID uint64, ref AttachmentRef) (Event, error) {
	ref.Name = strings.TrimSpace(strings.ToValidUTF8(ref.Name, "\uFFFD"))
	switch {
	case ref.ID == "" || len(ref.ID) > 200:
		return Event{}, &FieldError{Field: "file", Msg: "the file has no valid id"}
	case ref.Name == "":
		return Event{}, &FieldError{Field: "file", Msg: "the file has no name", Err: ErrEmpty}
	case utf8.RuneCountInString(ref.Name) > MaxName:
		return Event{}, &FieldError{Field: "file", Msg: fmt.Sprintf("the file name is longer than %d characters", MaxName), Err: ErrTooLong}
	case ref.Size < 0:
		return Event{}, &FieldError{Field: "file", Msg: "the file size is negative"}
	case len(ref.Type) > 255:
		return Event{}, &FieldError{Field: "file", Msg: "the file type is too long"}
	}
	att := ref
	return s.post(a, roomID, eventBody{Name: ref.Name, Type: ref.Type},
		eventRecord{Kind: KindAttachment, Attachment: ref.ID, Size: ref.Size}, Event{Attachment: &att})
}

func (s *Store) post(a Actor, roomID uint64, body eventBody, rec eventRecord, pub Event) (Event, error) {
	mu := s.stripe(roomID)
	mu.RLock()
	defer mu.RUnlock()
	if err := s.writable(a, roomID); err != nil {
		return Event{}, err
	}
	sealed, err := s.sealBody(roomID, body)
	if err != nil {
		return Event{}, err
	}
	// The event's time is when it was sent; its id, when it committed.
	rec.Author, rec.Body, rec.Time = a.ID, sealed, s.now().UTC()
	encoded, err := storage.Encode(rec)
	if err != nil {
		return Event{}, err
	}
	var out Event
	err = s.batch(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		m, err := v.writer(a, roomID)
		if err != nil {
			return err
		}
		ev, err := v.appendEvent(roomID, rec, encoded, pub)
		if err != nil {
			return err
		}
		// The author has read what they wrote.
		if ev.ID > m.LastRead {
			m.LastRead = ev.ID
			if err := v.putMember(roomID, a.ID, m); err != nil {
				return err
			}
		}
		out = ev
		return nil
	})
	if err != nil {
		return Event{}, err
	}
	return out, nil
}

// meetingCode tells whether code is one PostMeeting takes, and whether
// the room must be active for it (nobody starts or joins a meeting in a
// read-only room, but one under way may still end).
func meetingCode(code string) (known, needActive bool) {
	switch code {
	case CodeMeetingStarted, CodeMeetingJoined:
		return true, true
	case CodeMeetingLeft, CodeMeetingEnded:
		return true, false
	}
	return false, false
}

// PostMeeting adds a meeting-log entry (no content: who, what, when) for
// the video capability. userID must be a participant; it may be 0 for
// CodeMeetingEnded (ended by the box when the last one left).
func (s *Store) PostMeeting(roomID, userID uint64, code string) (Event, error) {
	ok, needActive := meetingCode(code)
	if !ok {
		return Event{}, &FieldError{Field: "code", Msg: fmt.Sprintf("%q is not a meeting event", code)}
	}
	if userID == 0 && code != CodeMeetingEnded {
		return Event{}, ErrNotMember
	}
	check := func(v *view) error {
		st, ok, err := v.status(roomID)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if userID != 0 && v.members.Get(memberKey(roomID, userID)) == nil {
			return ErrNotMember
		}
		if needActive && st != StatusActive {
			return ErrInactive
		}
		return nil
	}
	if err := s.db.View(func(tx *bbolt.Tx) error { return check(s.bind(tx)) }); err != nil {
		return Event{}, err
	}
	var out Event
	err := s.batch(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		if err := check(v); err != nil {
			return err
		}
		var err error
		out, err = v.appendEvent(roomID, eventRecord{Kind: KindMeeting, Time: s.now().UTC(), Code: code, Subject: userID}, nil, Event{})
		return err
	})
	if err != nil {
		return Event{}, err
	}
	return out, nil
}

// Timeline returns a page of the room's events, oldest first: the newest
// limit events when beforeID is 0, else the newest ones before beforeID.
// It is the "open the room" read: a staff member or admin reading a room
// with clients or relatives in it leaves one access-log entry per such
// participant, and nothing is returned if that fails.
func (s *Store) Timeline(a Actor, roomID uint64, beforeID uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = DefaultTimelineLimit
	}
	limit = min(limit, MaxTimelineLimit)
	if beforeID == 0 {
		beforeID = math.MaxUint64
	}
	var (
		out      []Event
		subjects []uint64
		unit     uint64
	)
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, _, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		unit = r.UnitID
		subjects, err = v.clientMembers(a, roomID)
		if err != nil {
			return err
		}
		prefix := storage.ID(roomID)
		c := v.events.Cursor()
		k, val := c.Seek(eventKey(roomID, beforeID))
		if k == nil {
			k, val = c.Last()
		} else {
			k, val = c.Prev()
		}
		// Walking backwards, so reverse afterwards.
		out = out[:0]
		for ; k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, val = c.Prev() {
			id := binary.BigEndian.Uint64(k[8:])
			if id >= beforeID {
				continue
			}
			rec, err := storage.Decode[eventRecord](val)
			if err != nil {
				return fmt.Errorf("rooms: event %d: %w", id, err)
			}
			e, err := s.publicEvent(roomID, id, rec)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		slices.Reverse(out)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := s.logAccess(a, subjects, unit, "room.read", "room:"+strconv.FormatUint(roomID, 10)); err != nil {
		return nil, err
	}
	return out, nil
}

// clientMembers lists the clients and relatives in the room when a is
// staff or admin (whose reads of their content are logged); else nil.
func (v *view) clientMembers(a Actor, roomID uint64) ([]uint64, error) {
	if !isStaff(a) || v.s.audit == nil {
		return nil, nil
	}
	members, err := v.memberList(roomID)
	if err != nil {
		return nil, err
	}
	var ids []uint64
	for _, m := range members {
		if (m.UserRole == "client" || m.UserRole == "relative") && m.UserID != a.ID {
			ids = append(ids, m.UserID)
		}
	}
	return ids, nil
}

// logAccess appends one access-log entry per subject, in one commit.
func (s *Store) logAccess(a Actor, subjects []uint64, unit uint64, action, detail string) error {
	if s.audit == nil || len(subjects) == 0 {
		return nil
	}
	role := auditlog.RoleStaff
	if a.Role == "admin" {
		role = auditlog.RoleAdmin
	}
	at := s.now().UTC()
	err := s.batch(func(tx *bbolt.Tx) error {
		for _, sub := range subjects {
			if _, err := s.audit.AppendTx(tx, auditlog.Entry{Time: at, ActorID: a.ID, ActorRole: role,
				SubjectID: sub, UnitID: unit, Action: action, Detail: detail}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rooms: the access log could not be written, so nothing is shown: %w", err)
	}
	return nil
}

// EventsSince returns up to limit events with ids above afterID from
// every room a is in, in id order: the catch-up after a dropped
// connection. Call it again with the last id until it returns nothing.
// It is not logged in the access log (Timeline is the logged read; this
// continues a room that was opened).
func (s *Store) EventsSince(a Actor, afterID uint64, limit int) ([]Event, error) {
	if limit <= 0 {
		limit = DefaultSinceLimit
	}
	limit = min(limit, MaxSinceLimit)
	if a.ID == 0 || afterID == math.MaxUint64 {
		return nil, nil
	}
	type raw struct {
		room, id uint64
		rec      eventRecord
	}
	var out []Event
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		var found []raw
		for _, k := range prefixKeys(v.userRooms, storage.ID(a.ID)) {
			roomID := binary.BigEndian.Uint64(k[8:])
			prefix := storage.ID(roomID)
			c := v.events.Cursor()
			n := 0
			for ek, val := c.Seek(eventKey(roomID, afterID+1)); ek != nil && bytes.HasPrefix(ek, prefix) && n < limit; ek, val = c.Next() {
				rec, err := storage.Decode[eventRecord](val)
				if err != nil {
					return fmt.Errorf("rooms: event in room %d: %w", roomID, err)
				}
				found = append(found, raw{roomID, binary.BigEndian.Uint64(ek[8:]), rec})
				n++
			}
		}
		slices.SortFunc(found, func(x, y raw) int {
			switch {
			case x.id < y.id:
				return -1
			case x.id > y.id:
				return 1
			}
			return 0
		})
		if len(found) > limit {
			found = found[:limit]
		}
		out = make([]Event, 0, len(found))
		for _, f := range found {
			e, err := s.publicEvent(f.room, f.id, f.rec)
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// MarkRead records that a has read the room up to eventID (capped at
// the room's newest event). It never moves back; when it moves, the
// room's members get a Receipt.
func (s *Store) MarkRead(a Actor, roomID, eventID uint64) error {
	// Read first: most calls change nothing (a page shown again), and
	// an outsider's call must not fail inside a shared batch.
	var needed bool
	err := s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		_, m, err := v.access(a, roomID)
		needed = err == nil && min(eventID, v.lastEventID(roomID)) > m.LastRead
		return err
	})
	if err != nil || !needed {
		return err
	}
	var (
		moved bool
		to    []uint64
		read  uint64
	)
	err = s.batch(func(tx *bbolt.Tx) error {
		moved = false
		v := s.bind(tx)
		_, m, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		target := min(eventID, v.lastEventID(roomID))
		if target <= m.LastRead {
			return nil
		}
		m.LastRead = target
		if err := v.putMember(roomID, a.ID, m); err != nil {
			return err
		}
		moved, to, read = true, v.memberIDs(roomID), target
		return nil
	})
	if err != nil {
		return err
	}
	if moved {
		s.hub.send(to, Update{Receipt: &Receipt{RoomID: roomID, UserID: a.ID, EventID: read}})
	}
	return nil
}

// Attachment returns the attachment attachmentID of the room, for a
// download by a participant. Like Timeline, a staff member's or admin's
// download from a room with clients or relatives is logged
// ("attachment.read", detail "room:<id>,event:<id>").
func (s *Store) Attachment(a Actor, roomID uint64, attachmentID string) (AttachmentRef, error) {
	if attachmentID == "" {
		return AttachmentRef{}, ErrNotFound
	}
	needle, err := json.Marshal(attachmentID)
	if err != nil {
		return AttachmentRef{}, ErrNotFound
	}
	var (
		ref      AttachmentRef
		eventID  uint64
		subjects []uint64
		unit     uint64
	)
	err = s.db.View(func(tx *bbolt.Tx) error {
		v := s.bind(tx)
		r, _, err := v.access(a, roomID)
		if err != nil {
			return err
		}
		unit = r.UnitID
		if subjects, err = v.clientMembers(a, roomID); err != nil {
			return err
		}
		prefix := storage.ID(roomID)
		c := v.events.Cursor()
		k, val := c.Seek(eventKey(roomID, math.MaxUint64))
		if k == nil {
			k, val = c.Last()
		} else {
			k, val = c.Prev()
		}
		// Newest first: downloads are mostly of recent files. The byte
		// test skips decoding events that cannot be the one.
		for ; k != nil && bytes.HasPrefix(k, prefix); k, val = c.Prev() {
			if !bytes.Contains(val, needle) {
				continue
			}
			rec, err := storage.Decode[eventRecord](val)
			if err != nil {
				return fmt.Errorf("rooms: event: %w", err)
			}
			if rec.Kind != KindAttachment || rec.Attachment != attachmentID {
				continue
			}
			eventID = binary.BigEndian.Uint64(k[8:])
			e, err := s.publicEvent(roomID, eventID, rec)
			if err != nil {
				return err
			}
			ref = *e.Attachment
			return nil
		}
		return ErrNotFound
	})
	if err != nil {
		return AttachmentRef{}, err
	}
	detail := "room:" + strconv.FormatUint(roomID, 10) + ",event:" + strconv.FormatUint(eventID, 10)
	if err := s.logAccess(a, subjects, unit, "attachment.read", detail); err != nil {
		return AttachmentRef{}, err
	}
	return ref, nil
}
