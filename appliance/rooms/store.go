package rooms

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// Sealer encrypts a subject's data with that subject's own key
// (storage/keystore.Store).
type Sealer interface {
	Seal(subject string, plaintext, aad []byte) ([]byte, error)
	Open(subject string, ciphertext, aad []byte) ([]byte, error)
	Erase(subject string) error
}

// Options configure a Store.
type Options struct {
	DB   *storage.DB
	Keys Sealer
	// Audit receives the access-log entries of staff reading client
	// rooms; nil logs nothing (tests).
	Audit *auditlog.Log
	Now   func() time.Time
	// SubscriberBuffer is the channel size of a subscription; a
	// subscriber this far behind is dropped (it then resumes). Default 64:
	// a few KiB per live connection.
	SubscriberBuffer int
}

// Store keeps rooms, their members and their timelines. It is safe for
// concurrent use.
type Store struct {
	db    *storage.DB
	keys  Sealer
	audit *auditlog.Log
	now   func() time.Time

	// sealing keeps a room's key from being used while Delete erases
	// it: writers that seal hold their room's stripe for reading from
	// the existence check to the commit, Delete holds it for writing.
	// Without it a Post racing a Delete could Seal after the erasure,
	// which would make the key store create a new key for the room.
	sealing [64]sync.RWMutex

	hub *hub
	seq *sequencer
	// batch is DB.Batch; the benchmarks swap in other group commits to
	// compare (export_test.go).
	batch func(func(*bbolt.Tx) error) error
}

var (
	bucketRooms    = []byte("rooms")
	bucketMembers  = []byte("room-members")
	bucketUserRoom = []byte("user-rooms")
	bucketEvents   = []byte("room-events")
	bucketActivity = []byte("room-activity")
	bucketAttach   = []byte("attachments")
	bucketEventSeq = []byte("events-seq")
)

// New returns a Store over the rooms buckets (storage migration 6).
func New(opts Options) (*Store, error) {
	if opts.DB == nil || opts.Keys == nil {
		return nil, errors.New("rooms: DB and Keys are required")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.SubscriberBuffer <= 0 {
		opts.SubscriberBuffer = 64
	}
	var last uint64
	err := opts.DB.View(func(tx *bbolt.Tx) error {
		for _, name := range [][]byte{bucketRooms, bucketMembers, bucketUserRoom, bucketEvents, bucketActivity, bucketAttach, bucketEventSeq} {
			if tx.Bucket(name) == nil {
				return fmt.Errorf("rooms: bucket %q is missing (storage migration 6 creates it)", name)
			}
		}
		last = tx.Bucket(bucketEventSeq).Sequence()
		return nil
	})
	if err != nil {
		return nil, err
	}
	h := newHub(opts.SubscriberBuffer)
	return &Store{db: opts.DB, keys: opts.Keys, audit: opts.Audit, now: opts.Now,
		hub: h, seq: newSequencer(last+1, h), batch: opts.DB.Batch}, nil
}

// Subject is the key-store subject of a room.
func Subject(roomID uint64) string { return "room:" + strconv.FormatUint(roomID, 10) }

var (
	aadTitle = []byte("title")
	aadEvent = []byte("event")
)

// roomRecord is a room as stored; Title is sealed. It changes only with
// the room's status: what changes with every message (the newest event,
// the last activity) is read from the room's events instead, so that a
// message neither decodes nor rewrites it (half the work of a post, and
// a page less in every commit).
type roomRecord struct {
	ID            uint64    `json:"id"`
	Title         []byte    `json:"title"`
	UnitID        uint64    `json:"unit"`
	Status        Status    `json:"status"`
	CreatedBy     uint64    `json:"created_by"`
	CreatedAt     time.Time `json:"created_at"`
	InactivatedAt time.Time `json:"inactivated_at,omitzero"`
}

// memberRecord is a membership as stored, under room id || user id.
type memberRecord struct {
	Role     Role      `json:"role"`
	UserRole string    `json:"user_role"`
	JoinedAt time.Time `json:"joined_at"`
	LastRead uint64    `json:"last_read,omitempty"`
}

// eventRecord is an event as stored, under room id || event id. Body is
// the sealed JSON of eventBody (messages and attachments only).
type eventRecord struct {
	Kind       Kind      `json:"kind"`
	Author     uint64    `json:"author,omitempty"`
	Time       time.Time `json:"time"`
	Body       []byte    `json:"body,omitempty"`
	Attachment string    `json:"attachment,omitempty"` // attachment id
	Size       int64     `json:"size,omitempty"`
	Code       string    `json:"code,omitempty"`
	Subject    uint64    `json:"subject,omitempty"`
	By         uint64    `json:"by,omitempty"`
}

// eventHead is what unread counting and roomState decode of an
// eventRecord.
type eventHead struct {
	Kind    Kind      `json:"kind"`
	Author  uint64    `json:"author,omitempty"`
	Time    time.Time `json:"time"`
	Subject uint64    `json:"subject,omitempty"`
	By      uint64    `json:"by,omitempty"`
}

// person is the user behind an event: the author, whoever caused a
// system event, whoever a meeting event is about; 0 for the box's own.
func (h eventHead) person() uint64 {
	switch {
	case h.Author != 0:
		return h.Author
	case h.By != 0:
		return h.By
	case h.Kind == KindMeeting:
		return h.Subject
	}
	return 0
}

// eventBody is the personal content of an event, sealed.
type eventBody struct {
	Text string `json:"text,omitempty"`
	Name string `json:"name,omitempty"`
	Type string `json:"type,omitempty"`
}

func pairKey(a, b uint64) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, a)
	binary.BigEndian.PutUint64(k[8:], b)
	return k
}

func memberKey(room, user uint64) []byte   { return pairKey(room, user) }
func userRoomKey(user, room uint64) []byte { return pairKey(user, room) }
func eventKey(room, event uint64) []byte   { return pairKey(room, event) }

// day is the UTC midnight of t: the activity log's granularity.
func day(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func activityKey(room uint64, t time.Time, user uint64) []byte {
	return append(storage.ID(room), storage.TimeKey(day(t), user)...)
}

// prefixKeys returns (copies of) every key in b that starts with prefix.
func prefixKeys(b *bbolt.Bucket, prefix []byte) [][]byte {
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		keys = append(keys, bytes.Clone(k))
	}
	return keys
}

func (s *Store) stripe(roomID uint64) *sync.RWMutex { return &s.sealing[roomID%uint64(len(s.sealing))] }

func (s *Store) sealBody(roomID uint64, b eventBody) ([]byte, error) {
	plain, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("rooms: %w", err)
	}
	ct, err := s.keys.Seal(Subject(roomID), plain, aadEvent)
	if err != nil {
		return nil, fmt.Errorf("rooms: seal: %w", err)
	}
	return ct, nil
}

// open opens a room's sealed field. A room whose key is gone was deleted
// under the reader's feet: it is not found.
func (s *Store) open(roomID uint64, ct, aad []byte) ([]byte, error) {
	plain, err := s.keys.Open(Subject(roomID), ct, aad)
	if errors.Is(err, keystore.ErrNoKey) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("rooms: open room %d: %w", roomID, err)
	}
	return plain, nil
}

// view is one read transaction's access to the buckets.
type view struct {
	s                                   *Store
	tx                                  *bbolt.Tx
	rooms, members, userRooms, events   *bbolt.Bucket
	activity, attachments, eventsSeqBkt *bbolt.Bucket
}

func (s *Store) bind(tx *bbolt.Tx) *view {
	return &view{s: s, tx: tx,
		rooms: tx.Bucket(bucketRooms), members: tx.Bucket(bucketMembers), userRooms: tx.Bucket(bucketUserRoom),
		events: tx.Bucket(bucketEvents), activity: tx.Bucket(bucketActivity), attachments: tx.Bucket(bucketAttach),
		eventsSeqBkt: tx.Bucket(bucketEventSeq)}
}

func (v *view) room(id uint64) (roomRecord, bool, error) {
	r, ok, err := storage.Get[roomRecord](v.rooms, storage.ID(id))
	if err != nil {
		return r, ok, fmt.Errorf("rooms: room %d: %w", id, err)
	}
	return r, ok, nil
}

func (v *view) member(room, user uint64) (memberRecord, bool, error) {
	m, ok, err := storage.Get[memberRecord](v.members, memberKey(room, user))
	if err != nil {
		return m, ok, fmt.Errorf("rooms: member %d of room %d: %w", user, room, err)
	}
	return m, ok, nil
}

// access returns the room and a's membership, or ErrNotFound when either
// is missing: an outsider learns nothing about the room.
func (v *view) access(a Actor, roomID uint64) (roomRecord, memberRecord, error) {
	if a.ID == 0 || roomID == 0 {
		return roomRecord{}, memberRecord{}, ErrNotFound
	}
	m, ok, err := v.member(roomID, a.ID)
	if err != nil {
		return roomRecord{}, memberRecord{}, err
	}
	if !ok {
		return roomRecord{}, memberRecord{}, ErrNotFound
	}
	r, ok, err := v.room(roomID)
	if err != nil {
		return roomRecord{}, memberRecord{}, err
	}
	if !ok {
		return roomRecord{}, memberRecord{}, ErrNotFound
	}
	return r, m, nil
}

// memberIDs lists the user ids of a room's members.
func (v *view) memberIDs(roomID uint64) []uint64 {
	var ids []uint64
	prefix := storage.ID(roomID)
	c := v.members.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, binary.BigEndian.Uint64(k[8:]))
	}
	return ids
}

func (v *view) memberList(roomID uint64) ([]Member, error) {
	var out []Member
	prefix := storage.ID(roomID)
	c := v.members.Cursor()
	for k, val := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, val = c.Next() {
		m, err := storage.Decode[memberRecord](val)
		if err != nil {
			return nil, fmt.Errorf("rooms: member of room %d: %w", roomID, err)
		}
		out = append(out, Member{UserID: binary.BigEndian.Uint64(k[8:]), Role: m.Role, UserRole: m.UserRole,
			JoinedAt: m.JoinedAt, LastRead: m.LastRead})
	}
	return out, nil
}

func (v *view) putRoom(r roomRecord) error { return storage.Put(v.rooms, storage.ID(r.ID), r) }

func (v *view) putMember(room, user uint64, m memberRecord) error {
	return storage.Put(v.members, memberKey(room, user), m)
}

// markActive notes that user did something in room today.
func (v *view) markActive(room, user uint64, t time.Time) error {
	k := activityKey(room, t, user)
	if user == 0 || v.activity.Get(k) != nil {
		return nil // a Put would dirty the page for nothing
	}
	if err := v.activity.Put(k, []byte{}); err != nil {
		return fmt.Errorf("rooms: activity: %w", err)
	}
	return nil
}

// roomState is what the room's events say about it: the newest event
// (CreatedAt while there is none) and the last one a person made.
type roomState struct {
	lastID         uint64
	lastAt         time.Time
	lastActivityAt time.Time
}

// state walks back from the room's newest event to the newest one a
// person made (rarely more than one step: only the box's own system
// events have nobody behind them).
func (v *view) state(r roomRecord) (roomState, error) {
	st := roomState{lastAt: r.CreatedAt, lastActivityAt: r.CreatedAt}
	prefix := storage.ID(r.ID)
	c := v.events.Cursor()
	k, val := c.Seek(eventKey(r.ID, math.MaxUint64))
	if k == nil {
		k, val = c.Last()
	} else {
		k, val = c.Prev()
	}
	for first := true; k != nil && bytes.HasPrefix(k, prefix); k, val = c.Prev() {
		h, err := storage.Decode[eventHead](val)
		if err != nil {
			return st, fmt.Errorf("rooms: event in room %d: %w", r.ID, err)
		}
		if first {
			st.lastID, st.lastAt, first = binary.BigEndian.Uint64(k[8:]), h.Time, false
		}
		if h.person() != 0 {
			st.lastActivityAt = h.Time
			break
		}
	}
	return st, nil
}

// lastEventID is the id of the room's newest event, 0 if none.
func (v *view) lastEventID(roomID uint64) uint64 {
	c := v.events.Cursor()
	k, _ := c.Seek(eventKey(roomID, math.MaxUint64))
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	if k == nil || !bytes.HasPrefix(k, storage.ID(roomID)) {
		return 0
	}
	return binary.BigEndian.Uint64(k[8:])
}

// status reads only a room's status: posting checks it for every
// message, so it skips decoding the rest.
func (v *view) status(roomID uint64) (Status, bool, error) {
	r, ok, err := storage.Get[struct {
		Status Status `json:"status"`
	}](v.rooms, storage.ID(roomID))
	if err != nil {
		return "", ok, fmt.Errorf("rooms: room %d: %w", roomID, err)
	}
	return r.Status, ok, nil
}

// publicRoom opens a room record.
func (v *view) publicRoom(r roomRecord) (Room, error) {
	title, err := v.s.open(r.ID, r.Title, aadTitle)
	if err != nil {
		return Room{}, err
	}
	st, err := v.state(r)
	if err != nil {
		return Room{}, err
	}
	return Room{ID: r.ID, Title: string(title), UnitID: r.UnitID, Status: r.Status, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt, LastActivityAt: st.lastActivityAt, InactivatedAt: r.InactivatedAt,
		LastEventID: st.lastID, LastEventAt: st.lastAt}, nil
}

// publicEvent opens an event record.
func (s *Store) publicEvent(roomID, id uint64, e eventRecord) (Event, error) {
	out := Event{ID: id, RoomID: roomID, Kind: e.Kind, AuthorID: e.Author, Time: e.Time, Code: e.Code,
		Subject: e.Subject, By: e.By}
	if len(e.Body) == 0 {
		return out, nil
	}
	plain, err := s.open(roomID, e.Body, aadEvent)
	if err != nil {
		return Event{}, err
	}
	var b eventBody
	if err := json.Unmarshal(plain, &b); err != nil {
		return Event{}, fmt.Errorf("rooms: event %d: %w", id, err)
	}
	switch e.Kind {
	case KindMessage:
		out.Text = b.Text
	case KindAttachment:
		out.Attachment = &AttachmentRef{ID: e.Attachment, Name: b.Name, Size: e.Size, Type: b.Type}
	}
	return out, nil
}

func isStaff(a Actor) bool { return a.Role == "staff" || a.Role == "admin" }

// validUserRole lists the identity roles that can take part in rooms.
// Technicians never see client data.
func validUserRole(r string) bool {
	switch r {
	case "client", "relative", "staff", "admin":
		return true
	}
	return false
}
