package rooms

import (
	"errors"
	"time"
)

// Role is what a participant is in one room.
type Role string

const (
	RoleHost        Role = "host"        // created the room (or was made host); one per room
	RoleCohost      Role = "cohost"      // invites participants, inactivates the room
	RoleParticipant Role = "participant" // reads and writes
)

// Status is where a room is in its life.
type Status string

const (
	StatusActive   Status = "active"
	StatusInactive Status = "inactive" // read-only; deleted by the retention rules
)

// Room is one room, with its title opened.
type Room struct {
	ID             uint64
	Title          string
	UnitID         uint64
	Status         Status
	CreatedBy      uint64
	CreatedAt      time.Time
	LastActivityAt time.Time // last event made by a person (auto-inactivation counts from here)
	InactivatedAt  time.Time // zero while active
	LastEventID    uint64    // the newest event of any kind (0: none yet)
	LastEventAt    time.Time // its time; CreatedAt while there is none
}

// Member is one participant of a room.
type Member struct {
	UserID   uint64
	Role     Role
	UserRole string // the user's identity role: "client", "relative", "staff", "admin"
	JoinedAt time.Time
	LastRead uint64 // the newest event id the participant has read
}

// Kind is what an event is.
type Kind string

const (
	KindMessage    Kind = "message"
	KindAttachment Kind = "attachment"
	KindSystem     Kind = "system"
	KindMeeting    Kind = "meeting"
)

// Codes of system and meeting events.
const (
	CodeMemberAdded     = "member.added"     // Subject joined (By added them)
	CodeMemberRole      = "member.role"      // Subject's role changed (By changed it)
	CodeMemberHost      = "member.host"      // Subject is the new host (By was host before)
	CodeMemberRemoved   = "member.removed"   // Subject was taken out (By did it)
	CodeMemberLeft      = "member.left"      // Subject left
	CodeRoomInactivated = "room.inactivated" // By inactivated the room (0: the retention rules or the last member leaving)
	CodeMeetingStarted  = "meeting.started"
	CodeMeetingJoined   = "meeting.joined"
	CodeMeetingLeft     = "meeting.left"
	CodeMeetingEnded    = "meeting.ended"
)

// Event is one entry of a room's timeline.
type Event struct {
	// ID is global, strictly increasing across all rooms in commit
	// order: the resume cursor of EventsSince.
	ID     uint64
	RoomID uint64
	Kind   Kind
	// AuthorID wrote a message or attachment; 0 for system and meeting
	// events (see Subject and By).
	AuthorID   uint64
	Time       time.Time
	Text       string         // KindMessage: plain text, never HTML
	Attachment *AttachmentRef // KindAttachment
	Code       string         // KindSystem / KindMeeting: one of the Code constants
	Subject    uint64         // the user a system/meeting event is about (0 if none)
	By         uint64         // KindSystem: the user who caused it (0: the box itself)
}

// AttachmentRef is a file in a room. The file itself is kept by the
// rooms/attachments package; ID is its id there.
type AttachmentRef struct {
	ID   string
	Name string
	Size int64
	Type string // detected MIME type
}

// Summary is a room in a user's list.
type Summary struct {
	Room        Room
	Unread      int // at most MaxUnread
	LastEventAt time.Time
	MyRole      Role
}

// MaxUnread caps the unread count of one room in List ("999+").
const MaxUnread = 999

// Actor is the logged-in user a call is made for, as the web layer knows
// them from the session.
type Actor struct {
	ID    uint64
	Role  string   // identity role: "admin", "staff", "client", "relative", "technician"
	Units []uint64 // the units a staff member belongs to
}

// ActivityEntry says that a user was active in a room on a day (UTC
// midnight). It carries no content.
type ActivityEntry struct {
	UserID uint64
	At     time.Time
}

// Update is one change a subscriber is told about; exactly one field is
// set. Do not modify what the pointers point to: it may be shared.
type Update struct {
	Event   *Event
	Receipt *Receipt
	Removed uint64 // a room the user no longer sees (left, removed, deleted)
}

// Receipt says how far a participant has read a room.
type Receipt struct {
	RoomID, UserID, EventID uint64
}

// Limits.
const (
	MaxTitle = 200    // characters of a room title
	MaxText  = 10_000 // characters of a message
	MaxName  = 255    // characters of an attachment name
)

// Errors the web layer maps to status codes and messages. Validation
// problems come as *FieldError wrapping one of these where one fits, so
// errors.Is works on them.
var (
	// ErrNotFound: no such room, or the actor is not in it (the two are
	// never told apart), or no such attachment in it.
	ErrNotFound = errors.New("rooms: not found")
	// ErrForbidden: the actor is in the room (or may create one) but not
	// allowed to do this, e.g. a participant inviting, a co-host deleting.
	ErrForbidden = errors.New("rooms: not allowed")
	// ErrInactive: the room is read-only.
	ErrInactive = errors.New("rooms: the room is inactive (read-only)")
	// ErrEmpty: a message with nothing but spaces.
	ErrEmpty = errors.New("rooms: the message is empty")
	// ErrTooLong: a message over MaxText characters.
	ErrTooLong = errors.New("rooms: the message is too long")
	// ErrNotMember: the user a call names (not the actor) is not a
	// participant, e.g. PostMeeting or MakeHost for an outsider.
	ErrNotMember = errors.New("rooms: the user is not a participant")
)

// FieldError is a problem with one form field. Err, when set, is the
// sentinel it stands for (errors.Is(err, ErrEmpty)).
type FieldError struct {
	Field string
	Msg   string
	Err   error
}

func (e *FieldError) Error() string { return "rooms: " + e.Field + ": " + e.Msg }
func (e *FieldError) Unwrap() error { return e.Err }
