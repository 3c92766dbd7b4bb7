// Package export writes everything the box holds about one person (GDPR
// articles 15 and 20) as a ZIP stream: data.json, one JSON document whose
// schema is in docs/EXPORT.md, and files/<attachment id>-<name> for each
// attachment the person sent. Nothing is held whole in memory: the JSON
// is encoded piece by piece while the person's messages are paged out of
// the rooms store, and each file is streamed from the attachment store
// (decrypted chunk by chunk) into the archive.
//
// The package does not import the web layer: the caller passes Sources
// (the identity, rooms, attachment and access-log stores, or anything
// with the same methods). Checking who may export whom, and logging the
// export in the access log ("export.create"), is the caller's job.
package export

import (
	"archive/zip"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/identity/personnummer"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
)

// SchemaVersion is the version of data.json's layout (docs/EXPORT.md).
const SchemaVersion = 1

// Users is what the export reads of identity (*identity.Store).
type Users interface {
	User(id uint64) (identity.User, error)
	Unit(id uint64) (identity.Unit, error)
}

// Rooms is what the export reads of rooms (*rooms.Store).
type Rooms interface {
	Memberships(userID uint64) ([]rooms.Membership, error)
	Authored(userID, roomID, afterID uint64, limit int) ([]rooms.Event, error)
}

// Audit is what the export reads of the access log (*auditlog.Log).
type Audit interface {
	Find(q auditlog.Query) ([]auditlog.Entry, error)
}

// Sources are the stores an export reads.
type Sources struct {
	Users Users
	Rooms Rooms // nil: no rooms section (empty array)
	// OpenFile opens an attachment of a room for reading; nil lists the
	// attachments in data.json without their files. AttachmentFiles
	// adapts an *attachments.Store.
	OpenFile func(roomID uint64, attachmentID string) (io.ReadCloser, error)
	Audit    Audit            // nil: no access-log section (empty array)
	Now      func() time.Time // default time.Now
}

// AttachmentFiles adapts an attachment store to Sources.OpenFile.
func AttachmentFiles(s *attachments.Store) func(uint64, string) (io.ReadCloser, error) {
	return func(roomID uint64, id string) (io.ReadCloser, error) {
		return s.Open(rooms.Subject(roomID), id)
	}
}

// Page sizes: how many messages or log entries one read takes.
const (
	messagePage = 500
	auditPage   = 1000
)

// fileRef is an attachment to copy into the archive after data.json.
type fileRef struct {
	roomID uint64
	id     string
	path   string
}

// Write streams the export of user subject to w as a ZIP. An error after
// the first byte leaves w with a partial archive: the caller (an HTTP
// handler) should then abort the response rather than end it normally.
func Write(w io.Writer, subject uint64, src Sources) error {
	if src.Users == nil {
		return errors.New("export: Sources.Users is required")
	}
	now := time.Now
	if src.Now != nil {
		now = src.Now
	}
	u, err := src.Users.User(subject)
	if err != nil {
		return fmt.Errorf("export: user %d: %w", subject, err)
	}
	zw := zip.NewWriter(w)
	jw, err := zw.CreateHeader(&zip.FileHeader{Name: "data.json", Method: zip.Deflate, Modified: now().UTC()})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	e := &encoder{w: bufio.NewWriterSize(jw, 32<<10), src: src, names: map[uint64]person{}, units: map[uint64]string{}}
	files := e.document(u, now().UTC())
	if e.err == nil {
		e.err = e.w.Flush()
	}
	if e.err != nil {
		return fmt.Errorf("export: data.json: %w", e.err)
	}
	for _, f := range files {
		if err := copyFile(zw, src, f, now().UTC()); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	return nil
}

func copyFile(zw *zip.Writer, src Sources, f fileRef, at time.Time) error {
	r, err := src.OpenFile(f.roomID, f.id)
	if err != nil {
		// A file that is gone (its room deleted meanwhile, or damaged)
		// must not block the rest of the export: say so in its place.
		nw, zerr := zw.CreateHeader(&zip.FileHeader{Name: f.path + ".missing.txt", Method: zip.Deflate, Modified: at})
		if zerr != nil {
			return fmt.Errorf("export: %w", zerr)
		}
		_, zerr = fmt.Fprintf(nw, "This file could not be read when the export was made (%v).\n", err)
		return zerr
	}
	defer r.Close()
	// Stored, not deflated: pictures and PDFs are compressed already.
	fw, err := zw.CreateHeader(&zip.FileHeader{Name: f.path, Method: zip.Store, Modified: at})
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if _, err := io.Copy(fw, r); err != nil {
		return fmt.Errorf("export: file %s: %w", f.id, err)
	}
	return nil
}

// person is a name as the access-log section shows it.
type person struct {
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
}

// encoder writes data.json; the first error sticks and stops output.
type encoder struct {
	w     *bufio.Writer
	src   Sources
	err   error
	names map[uint64]person
	units map[uint64]string
}

func (e *encoder) raw(s string) {
	if e.err == nil {
		_, e.err = e.w.WriteString(s)
	}
}

func (e *encoder) value(v any) {
	if e.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		e.err = err
		return
	}
	_, e.err = e.w.Write(b)
}

// field writes "key":value, with a leading comma unless first.
func (e *encoder) field(first bool, key string, v any) {
	if !first {
		e.raw(",")
	}
	e.value(key)
	e.raw(":")
	e.value(v)
}

type profileJSON struct {
	Name               string `json:"name"`
	Email              string `json:"email"`
	Phone              string `json:"phone"`
	Title              string `json:"title,omitempty"`
	Personnummer       string `json:"personnummer"`
	PersonnummerMasked string `json:"personnummer_masked"`
	FromEID            bool   `json:"name_and_personnummer_from_eid"`
}

type accountJSON struct {
	ID           uint64     `json:"id"`
	Role         string     `json:"role"`
	Status       string     `json:"status"`
	Language     string     `json:"language"`
	CreatedAt    time.Time  `json:"created_at"`
	LastActiveAt *time.Time `json:"last_active_at"`
	Password     bool       `json:"has_password"`
	TOTP         bool       `json:"has_authenticator_app"`
	Passkey      bool       `json:"has_passkey"`
}

type unitJSON struct {
	ID   uint64 `json:"id"`
	Name string `json:"name"`
}

type termsJSON struct {
	Version    string     `json:"version"`
	AcceptedAt *time.Time `json:"accepted_at"`
}

type messageJSON struct {
	ID   uint64    `json:"id"`
	Time time.Time `json:"time"`
	Text string    `json:"text"`
}

type attachmentJSON struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
	Name string    `json:"name"`
	Type string    `json:"type"`
	Size int64     `json:"size"`
	File string    `json:"file,omitempty"`
}

type accessJSON struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Who    whoJSON   `json:"who"`
	Action string    `json:"action"`
	Detail string    `json:"detail,omitempty"`
	Unit   *unitJSON `json:"unit"`
}

type whoJSON struct {
	ID    uint64 `json:"id,omitempty"`
	Role  string `json:"role"`
	Name  string `json:"name"`
	Title string `json:"title,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// document writes the whole of data.json and returns the files to add.
func (e *encoder) document(u identity.User, at time.Time) []fileRef {
	p := u.Profile
	masked := ""
	if p.Personnummer != "" {
		if n, err := personnummer.Parse(p.Personnummer, at); err == nil {
			masked = n.Masked()
		}
	}
	e.raw("{")
	e.field(true, "schema", "clinicbox.export")
	e.field(false, "schema_version", SchemaVersion)
	e.field(false, "generated_at", at)
	e.field(false, "profile", profileJSON{Name: p.Name, Email: p.Email, Phone: p.Phone, Title: p.Title,
		Personnummer: p.Personnummer, PersonnummerMasked: masked, FromEID: p.NameFromEID})
	e.field(false, "account", accountJSON{ID: u.ID, Role: string(u.Role), Status: string(u.Status), Language: u.Lang,
		CreatedAt: u.CreatedAt.UTC(), LastActiveAt: timePtr(u.LastActiveAt), Password: u.HasPassword, TOTP: u.HasTOTP, Passkey: u.HasPasskey})
	units := make([]unitJSON, 0, len(u.Units))
	for _, id := range u.Units {
		units = append(units, unitJSON{ID: id, Name: e.unitName(id)})
	}
	e.field(false, "units", units)
	e.field(false, "terms", termsJSON{Version: u.TermsVersion, AcceptedAt: timePtr(u.TermsAccepted)})
	e.field(false, "notifications", map[string]bool{"email": u.NotifyEmail, "sms": u.NotifySMS})
	e.raw(`,"rooms":`)
	files := e.rooms(u.ID)
	e.raw(`,"access_log":`)
	e.accessLog(u.ID)
	e.field(false, "bookings", []struct{}{})
	e.field(false, "ratings", []struct{}{})
	e.field(false, "consents", []struct{}{})
	e.field(false, "notes", map[string]string{
		"rooms":      "The rooms you take part in, with the messages and attachments you wrote. Messages by others are not included: they are their personal data.",
		"access_log": "Every time someone at the clinic read or changed your data, as recorded in the access log.",
		"bookings":   "Booking is not in use on this box yet; when it is, your bookings appear here.",
		"ratings":    "Call quality ratings are not stored with your identity on this box yet.",
		"consents":   "Relatives' consents are not in use on this box yet.",
	})
	e.raw("}\n")
	return files
}

func (e *encoder) unitName(id uint64) string {
	if id == 0 {
		return ""
	}
	if n, ok := e.units[id]; ok {
		return n
	}
	n := ""
	if unit, err := e.src.Users.Unit(id); err == nil {
		n = unit.Name
	}
	e.units[id] = n
	return n
}

// rooms writes the rooms array, paging through each room's messages.
func (e *encoder) rooms(userID uint64) []fileRef {
	var files []fileRef
	if e.src.Rooms == nil {
		e.raw("[]")
		return nil
	}
	ms, err := e.src.Rooms.Memberships(userID)
	if err != nil && e.err == nil {
		e.err = err
	}
	e.raw("[")
	for i, m := range ms {
		if i > 0 {
			e.raw(",")
		}
		e.raw("{")
		e.field(true, "id", m.Room.ID)
		e.field(false, "title", m.Room.Title)
		e.field(false, "unit", unitJSON{ID: m.Room.UnitID, Name: e.unitName(m.Room.UnitID)})
		e.field(false, "status", string(m.Room.Status))
		e.field(false, "my_role", string(m.Role))
		e.field(false, "joined_at", m.JoinedAt.UTC())
		e.raw(`,"messages":[`)
		var atts []attachmentJSON
		first := true
		for after := uint64(0); e.err == nil; {
			page, err := e.src.Rooms.Authored(userID, m.Room.ID, after, messagePage)
			if err != nil {
				e.err = err
				break
			}
			if len(page) == 0 {
				break
			}
			for _, ev := range page {
				after = ev.ID
				switch {
				case ev.Kind == rooms.KindMessage:
					if !first {
						e.raw(",")
					}
					first = false
					e.value(messageJSON{ID: ev.ID, Time: ev.Time.UTC(), Text: ev.Text})
				case ev.Kind == rooms.KindAttachment && ev.Attachment != nil:
					a := attachmentJSON{ID: ev.Attachment.ID, Time: ev.Time.UTC(), Name: ev.Attachment.Name,
						Type: ev.Attachment.Type, Size: ev.Attachment.Size}
					if e.src.OpenFile != nil {
						a.File = "files/" + ev.Attachment.ID + "-" + safeName(ev.Attachment.Name)
						files = append(files, fileRef{roomID: m.Room.ID, id: ev.Attachment.ID, path: a.File})
					}
					atts = append(atts, a)
				}
			}
		}
		e.raw("]")
		if atts == nil {
			atts = []attachmentJSON{}
		}
		e.field(false, "attachments", atts)
		e.raw("}")
	}
	e.raw("]")
	return files
}

// accessLog writes the access-log entries about userID, oldest first.
func (e *encoder) accessLog(userID uint64) {
	if e.src.Audit == nil {
		e.raw("[]")
		return
	}
	e.raw("[")
	first := true
	for after := uint64(0); e.err == nil; {
		page, err := e.src.Audit.Find(auditlog.Query{SubjectID: userID, AfterSeq: after, Limit: auditPage})
		if err != nil {
			e.err = err
			break
		}
		for _, en := range page {
			after = en.Seq
			if !first {
				e.raw(",")
			}
			first = false
			a := accessJSON{Seq: en.Seq, Time: en.Time.UTC(), Who: e.who(en), Action: en.Action, Detail: en.Detail}
			if en.UnitID != 0 {
				a.Unit = &unitJSON{ID: en.UnitID, Name: e.unitName(en.UnitID)}
			}
			e.value(a)
		}
		if len(page) < auditPage {
			break
		}
	}
	e.raw("]")
}

// who names the actor of an access-log entry: the staff member's name
// and title (what patient data law lets the client see), "the clinic's
// system" for the box's own jobs, "former staff member" when the account
// was erased.
func (e *encoder) who(en auditlog.Entry) whoJSON {
	w := whoJSON{ID: en.ActorID, Role: en.ActorRole}
	if en.ActorRole == auditlog.RoleSystem || en.ActorID == 0 {
		w.Name = "the clinic's system"
		return w
	}
	p, ok := e.names[en.ActorID]
	if !ok {
		if u, err := e.src.Users.User(en.ActorID); err == nil {
			p = person{Name: u.Profile.Name, Title: u.Profile.Title}
		} else {
			p = person{Name: "former staff member"}
		}
		e.names[en.ActorID] = p
	}
	w.Name, w.Title = p.Name, p.Title
	return w
}

// safeName makes an attachment's display name safe as the last part of
// a path inside the archive.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '/' || r == '\\' || r == ':' || unicode.IsControl(r):
			return '_'
		}
		return r
	}, name)
	name = strings.TrimLeft(name, ".")
	if name == "" {
		name = "file"
	}
	if len(name) > 150 {
		name = name[:150]
		for !utf8.ValidString(name) {
			name = name[:len(name)-1]
		}
	}
	return name
}
