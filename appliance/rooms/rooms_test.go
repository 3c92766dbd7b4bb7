package rooms_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"clinicbox/appliance/rooms"
	"clinicbox/storage"
)

func TestCreate(t *testing.T) {
	h := newHarness(t)
	for _, a := range []rooms.Actor{client, relative, tech, {ID: 0, Role: "staff", Units: []uint64{1}}} {
		_, err := h.rooms.Create(a, "Samtal", 1)
		wantErr(t, err, rooms.ErrForbidden)
	}
	_, err := h.rooms.Create(staff, "Samtal", 2) // not staff's unit
	wantErr(t, err, rooms.ErrForbidden)
	fieldErr(t, err, "unit")
	_, err = h.rooms.Create(staff, "Samtal", 0)
	fieldErr(t, err, "unit")
	_, err = h.rooms.Create(staff, "   ", 1)
	fieldErr(t, err, "title")
	wantErr(t, err, rooms.ErrEmpty)
	_, err = h.rooms.Create(staff, strings.Repeat("å", 201), 1)
	fieldErr(t, err, "title")
	if _, err := h.rooms.Create(staff, strings.Repeat("å", 200), 1); err != nil {
		t.Fatalf("200 characters: %v", err)
	}
	if _, err := h.rooms.Create(admin, "Admin room", 2); err != nil {
		t.Fatalf("admin in any unit: %v", err)
	}

	h.clock.Advance(time.Minute)
	r, err := h.rooms.Create(staff, "  Titel-XYZZY-markör  ", 1)
	if err != nil {
		t.Fatal(err)
	}
	if r.Title != "Titel-XYZZY-markör" || r.UnitID != 1 || r.Status != rooms.StatusActive || r.CreatedBy != staff.ID ||
		!r.CreatedAt.Equal(h.clock.Now()) || !r.LastActivityAt.Equal(r.CreatedAt) || !r.LastEventAt.Equal(r.CreatedAt) {
		t.Fatalf("room %+v", r)
	}
	got, members, err := h.rooms.Get(staff, r.ID)
	if err != nil || got != r {
		t.Fatalf("Get = %+v, %v; want %+v", got, err, r)
	}
	if len(members) != 1 || members[0].UserID != staff.ID || members[0].Role != rooms.RoleHost || members[0].UserRole != "staff" {
		t.Fatalf("members %+v", members)
	}
	list, err := h.rooms.List(staff)
	if err != nil || len(list) != 2 || list[0].Room.ID != r.ID || list[0].MyRole != rooms.RoleHost {
		t.Fatalf("List = %+v, %v", list, err)
	}
	if !h.keys.Has(rooms.Subject(r.ID)) {
		t.Fatal("the room has no key")
	}
	if h.fileContains("XYZZY") {
		t.Fatal("the title is in the database file in clear")
	}
}

// An outsider learns nothing: every call on a room they are not in
// answers exactly as for a room that does not exist.
func TestOutsidersGetNotFound(t *testing.T) {
	h := newHarness(t)
	r := h.room("Hemligt rum", client)
	ev := h.post(staff, r.ID, "hej")
	const missing = 9999
	calls := map[string]func(a rooms.Actor, id uint64) error{
		"Get":      func(a rooms.Actor, id uint64) error { _, _, err := h.rooms.Get(a, id); return err },
		"Timeline": func(a rooms.Actor, id uint64) error { _, err := h.rooms.Timeline(a, id, 0, 10); return err },
		"Post":     func(a rooms.Actor, id uint64) error { _, err := h.rooms.Post(a, id, "x"); return err },
		"PostAttachment": func(a rooms.Actor, id uint64) error {
			_, err := h.rooms.PostAttachment(a, id, rooms.AttachmentRef{ID: "f1", Name: "a.pdf", Size: 1})
			return err
		},
		"Attachment": func(a rooms.Actor, id uint64) error { _, err := h.rooms.Attachment(a, id, "f1"); return err },
		"MarkRead":   func(a rooms.Actor, id uint64) error { return h.rooms.MarkRead(a, id, ev.ID) },
		"AddMember": func(a rooms.Actor, id uint64) error {
			return h.rooms.AddMember(a, id, client2.ID, "client", rooms.RoleParticipant)
		},
		"MakeHost":     func(a rooms.Actor, id uint64) error { return h.rooms.MakeHost(a, id, staff2.ID) },
		"RemoveMember": func(a rooms.Actor, id uint64) error { return h.rooms.RemoveMember(a, id, client.ID) },
		"Leave":        func(a rooms.Actor, id uint64) error { return h.rooms.Leave(a, id) },
		"Inactivate":   func(a rooms.Actor, id uint64) error { return h.rooms.Inactivate(a, id) },
		"Delete":       func(a rooms.Actor, id uint64) error { _, err := h.rooms.Delete(a, id); return err },
	}
	for name, call := range calls {
		for _, a := range []rooms.Actor{outsider, admin, client2, tech, {}} {
			errExisting := call(a, r.ID)
			errMissing := call(a, missing)
			if !errors.Is(errExisting, rooms.ErrNotFound) || errExisting.Error() != errMissing.Error() {
				t.Errorf("%s by %+v: existing room %v, missing room %v", name, a, errExisting, errMissing)
			}
		}
	}
	// Nothing changed, and the outsiders are not in the list.
	if _, members, err := h.rooms.Get(staff, r.ID); err != nil || len(members) != 2 {
		t.Fatalf("after the outsiders: %v, %+v", err, members)
	}
	for _, a := range []rooms.Actor{outsider, admin, client2} {
		if list, _ := h.rooms.List(a); len(list) != 0 {
			t.Fatalf("%d sees %+v", a.ID, list)
		}
		if evs, _ := h.rooms.EventsSince(a, 0, 100); len(evs) != 0 {
			t.Fatalf("%d gets events %+v", a.ID, evs)
		}
	}
	if tl, _ := h.rooms.Timeline(staff, r.ID, 0, 0); len(tl) != 2 { // member.added, message
		t.Fatalf("timeline %+v", tl)
	}
}

func TestAddMember(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client)

	// A participant invites nobody.
	wantErr(t, h.rooms.AddMember(client, r.ID, relative.ID, "relative", rooms.RoleParticipant), rooms.ErrForbidden)
	// The host role cannot be given; unknown roles and technicians are refused.
	err := h.rooms.AddMember(staff, r.ID, staff2.ID, "staff", rooms.RoleHost)
	fieldErr(t, err, "role")
	wantErr(t, err, rooms.ErrForbidden)
	fieldErr(t, h.rooms.AddMember(staff, r.ID, staff2.ID, "staff", "owner"), "role")
	fieldErr(t, h.rooms.AddMember(staff, r.ID, tech.ID, "technician", rooms.RoleParticipant), "user")
	fieldErr(t, h.rooms.AddMember(staff, r.ID, 0, "client", rooms.RoleParticipant), "user")
	// Only staff can be co-hosts.
	fieldErr(t, h.rooms.AddMember(staff, r.ID, relative.ID, "relative", rooms.RoleCohost), "role")

	// The host makes a co-host; the co-host invites participants but
	// makes no co-hosts and changes no roles.
	if err := h.rooms.AddMember(staff, r.ID, staff2.ID, "staff", rooms.RoleCohost); err != nil {
		t.Fatal(err)
	}
	if err := h.rooms.AddMember(staff2, r.ID, relative.ID, "relative", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	wantErr(t, h.rooms.AddMember(staff2, r.ID, outsider.ID, "staff", rooms.RoleCohost), rooms.ErrForbidden)
	if err := h.rooms.AddMember(staff2, r.ID, outsider.ID, "staff", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	wantErr(t, h.rooms.AddMember(staff2, r.ID, outsider.ID, "staff", rooms.RoleCohost), rooms.ErrForbidden)
	// The host's role does not change through AddMember.
	fieldErr(t, h.rooms.AddMember(staff, r.ID, staff.ID, "staff", rooms.RoleCohost), "role")

	before, _ := h.rooms.Timeline(staff, r.ID, 0, 100)
	// Idempotent: adding again changes nothing and logs nothing.
	if err := h.rooms.AddMember(staff2, r.ID, relative.ID, "relative", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	after, _ := h.rooms.Timeline(staff, r.ID, 0, 100)
	if len(after) != len(before) {
		t.Fatalf("a repeated invitation added %d events", len(after)-len(before))
	}
	// The host changes a role: one "member.role" event.
	if err := h.rooms.AddMember(staff, r.ID, outsider.ID, "staff", rooms.RoleCohost); err != nil {
		t.Fatal(err)
	}
	after, _ = h.rooms.Timeline(staff, r.ID, 0, 100)
	last := after[len(after)-1]
	if last.Kind != rooms.KindSystem || last.Code != rooms.CodeMemberRole || last.Subject != outsider.ID || last.By != staff.ID || last.AuthorID != 0 {
		t.Fatalf("role change event %+v", last)
	}

	_, members, _ := h.rooms.Get(relative, r.ID)
	roles := map[uint64]rooms.Role{}
	for _, m := range members {
		roles[m.UserID] = m.Role
	}
	want := map[uint64]rooms.Role{staff.ID: rooms.RoleHost, client.ID: rooms.RoleParticipant, staff2.ID: rooms.RoleCohost,
		relative.ID: rooms.RoleParticipant, outsider.ID: rooms.RoleCohost}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}
	// Every invitation is a system event naming who and by whom.
	var added []string
	for _, e := range after {
		if e.Code == rooms.CodeMemberAdded {
			added = append(added, fmt.Sprintf("%d by %d", e.Subject, e.By))
		}
	}
	if fmt.Sprint(added) != "[3 by 1 2 by 1 4 by 2 6 by 2]" {
		t.Fatalf("member.added events %v", added)
	}
}

func TestPost(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client)

	_, err := h.rooms.Post(client, r.ID, " \n\t ")
	wantErr(t, err, rooms.ErrEmpty)
	_, err = h.rooms.Post(client, r.ID, strings.Repeat("ö", rooms.MaxText+1))
	wantErr(t, err, rooms.ErrTooLong)
	if _, err := h.rooms.Post(client, r.ID, strings.Repeat("ö", rooms.MaxText)); err != nil {
		t.Fatalf("%d characters (%d bytes): %v", rooms.MaxText, len(strings.Repeat("ö", rooms.MaxText)), err)
	}

	h.clock.Advance(time.Hour)
	e := h.post(client, r.ID, "  <b>Hej</b> https://example.se\r\nrad två  ")
	if e.Text != "<b>Hej</b> https://example.se\nrad två" || e.Kind != rooms.KindMessage || e.AuthorID != client.ID ||
		e.RoomID != r.ID || !e.Time.Equal(h.clock.Now()) {
		t.Fatalf("event %+v", e)
	}
	tl, err := h.rooms.Timeline(client, r.ID, 0, 1)
	if err != nil || len(tl) != 1 || tl[0].ID != e.ID || tl[0].Text != e.Text || !tl[0].Time.Equal(e.Time) {
		t.Fatalf("Timeline = %+v, %v; want %+v", tl, err, e)
	}
	got, members, _ := h.rooms.Get(client, r.ID)
	if !got.LastActivityAt.Equal(e.Time) || got.LastEventID != e.ID {
		t.Fatalf("room after a post: %+v", got)
	}
	for _, m := range members {
		if m.UserID == client.ID && m.LastRead != e.ID {
			t.Fatalf("the author's read state is %d, want %d", m.LastRead, e.ID)
		}
	}
	act, err := h.rooms.Activity(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	day0 := t0.Truncate(24 * time.Hour)
	if fmt.Sprint(act) != fmt.Sprintf("[{%d %v} {%d %v}]", staff.ID, day0, client.ID, day0) {
		t.Fatalf("activity %v", act)
	}
}

func TestUnreadAndMarkRead(t *testing.T) {
	h := newHarness(t)
	a := h.room("A", client)
	b := h.room("B", client)
	h.clock.Advance(time.Minute)
	h.post(staff, a.ID, "1")
	h.post(staff, a.ID, "2")
	// Writing is reading: the client's own post moves their read state
	// past "1" and "2".
	h.post(client, a.ID, "mitt eget")
	if _, err := h.rooms.PostMeeting(a.ID, staff.ID, rooms.CodeMeetingStarted); err != nil {
		t.Fatal(err)
	}
	att, err := h.rooms.PostAttachment(staff, a.ID, rooms.AttachmentRef{ID: "f1", Name: "x.pdf", Size: 3, Type: "application/pdf"})
	if err != nil {
		t.Fatal(err)
	}
	h.post(staff, a.ID, "3")
	h.clock.Advance(time.Minute)
	last := h.post(staff, b.ID, "b1")

	unread := func(a rooms.Actor) string {
		t.Helper()
		list, err := h.rooms.List(a)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, s := range list {
			parts = append(parts, fmt.Sprintf("%s:%d", s.Room.Title, s.Unread))
		}
		return strings.Join(parts, " ")
	}
	// Newest activity first; messages and attachments by others after
	// the last read count, meeting and system events do not.
	if got := unread(client); got != "B:1 A:2" {
		t.Fatalf("client unread %q", got)
	}
	if got := unread(staff); got != "B:0 A:0" { // their own "3" came last
		t.Fatalf("staff unread %q", got)
	}
	if err := h.rooms.MarkRead(client, a.ID, att.ID); err != nil {
		t.Fatal(err)
	}
	if got := unread(client); got != "B:1 A:1" {
		t.Fatalf("after MarkRead: %q", got)
	}
	// Monotonic: reading an older id does not bring messages back.
	if err := h.rooms.MarkRead(client, a.ID, 1); err != nil {
		t.Fatal(err)
	}
	if got := unread(client); got != "B:1 A:1" {
		t.Fatalf("after moving back: %q", got)
	}
	// Capped at the room's newest event.
	if err := h.rooms.MarkRead(client, b.ID, last.ID+1000); err != nil {
		t.Fatal(err)
	}
	_, members, _ := h.rooms.Get(client, b.ID)
	for _, m := range members {
		if m.UserID == client.ID && m.LastRead != last.ID {
			t.Fatalf("LastRead %d, want %d", m.LastRead, last.ID)
		}
	}
	if got := unread(client); got != "B:0 A:1" {
		t.Fatalf("after reading B: %q", got)
	}
	list, _ := h.rooms.List(client)
	if !list[0].LastEventAt.Equal(last.Time) {
		t.Fatalf("LastEventAt %v, want %v", list[0].LastEventAt, last.Time)
	}
}

func TestUnreadCap(t *testing.T) {
	if testing.Short() {
		t.Skip("posts a thousand messages")
	}
	h := newHarness(t)
	r := h.room("Rum", client)
	var wg = make(chan struct{}, 50)
	errs := make(chan error, rooms.MaxUnread+5)
	for i := range rooms.MaxUnread + 5 {
		wg <- struct{}{}
		go func() {
			defer func() { <-wg }()
			_, err := h.rooms.Post(staff, r.ID, fmt.Sprint(i))
			errs <- err
		}()
	}
	for range rooms.MaxUnread + 5 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	list, _ := h.rooms.List(client)
	if list[0].Unread != rooms.MaxUnread {
		t.Fatalf("unread %d, want the cap %d", list[0].Unread, rooms.MaxUnread)
	}
}

func TestTimelinePages(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum") // no events yet
	other := h.room("Annat")
	if tl, err := h.rooms.Timeline(staff, r.ID, 0, 10); err != nil || len(tl) != 0 {
		t.Fatalf("empty room: %+v, %v", tl, err)
	}
	var ids []uint64
	for i := range 25 {
		ids = append(ids, h.post(staff, r.ID, fmt.Sprint("m", i)).ID)
		h.post(staff, other.ID, "noise")
	}
	page, err := h.rooms.Timeline(staff, r.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	check := func(page []rooms.Event, want []uint64) {
		t.Helper()
		var got []uint64
		for _, e := range page {
			got = append(got, e.ID)
			if e.RoomID != r.ID {
				t.Fatalf("event of room %d", e.RoomID)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("page %v, want %v", got, want)
		}
	}
	check(page, ids[15:])
	page, _ = h.rooms.Timeline(staff, r.ID, page[0].ID, 10)
	check(page, ids[5:15])
	page, _ = h.rooms.Timeline(staff, r.ID, page[0].ID, 10)
	check(page, ids[:5])
	if page[0].Text != "m0" {
		t.Fatalf("first message %q", page[0].Text)
	}
	page, _ = h.rooms.Timeline(staff, r.ID, page[0].ID, 10)
	check(page, nil)
	// beforeID need not be an event of the room.
	page, _ = h.rooms.Timeline(staff, r.ID, ids[3]+1, 2)
	check(page, ids[2:4])
}

func TestInactivate(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client, staff2)
	first := h.post(client, r.ID, "före")
	wantErr(t, h.rooms.Inactivate(client, r.ID), rooms.ErrForbidden)
	wantErr(t, h.rooms.Inactivate(staff2, r.ID), rooms.ErrForbidden) // a participant, though staff
	if err := h.rooms.AddMember(staff, r.ID, staff2.ID, "staff", rooms.RoleCohost); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	if err := h.rooms.Inactivate(staff2, r.ID); err != nil {
		t.Fatal(err)
	}
	if err := h.rooms.Inactivate(staff, r.ID); err != nil {
		t.Fatalf("again: %v", err)
	}
	got, _, _ := h.rooms.Get(client, r.ID)
	if got.Status != rooms.StatusInactive || !got.InactivatedAt.Equal(h.clock.Now()) {
		t.Fatalf("room %+v", got)
	}
	_, err := h.rooms.Post(client, r.ID, "efter")
	wantErr(t, err, rooms.ErrInactive)
	_, err = h.rooms.PostAttachment(staff, r.ID, rooms.AttachmentRef{ID: "f", Name: "f.txt"})
	wantErr(t, err, rooms.ErrInactive)
	wantErr(t, h.rooms.AddMember(staff, r.ID, relative.ID, "relative", rooms.RoleParticipant), rooms.ErrInactive)
	_, err = h.rooms.PostMeeting(r.ID, staff.ID, rooms.CodeMeetingStarted)
	wantErr(t, err, rooms.ErrInactive)
	// Still readable, and read state still moves.
	tl, err := h.rooms.Timeline(client, r.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	end := tl[len(tl)-1]
	if end.Code != rooms.CodeRoomInactivated || end.By != staff2.ID || tl[len(tl)-2].ID <= first.ID {
		t.Fatalf("timeline ends with %+v", end)
	}
	if err := h.rooms.MarkRead(client, r.ID, end.ID); err != nil {
		t.Fatal(err)
	}
	// Only posts are counted as activity; inactivation is not.
	if list, _ := h.rooms.List(client); list[0].Unread != 0 || !list[0].Room.LastActivityAt.Equal(end.Time) {
		t.Fatalf("summary %+v", list[0])
	}
}

func TestLeaveAndHandOver(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client, staff2)
	h.post(client, r.ID, "hej")
	sub, cancel := h.rooms.Subscribe(client.ID)
	defer cancel()

	// The host cannot leave while others are in the room.
	err := h.rooms.Leave(staff, r.ID)
	fe := fieldErr(t, err, "room")
	if fe.Msg != "make someone else host first" {
		t.Fatalf("message %q", fe.Msg)
	}
	// Only staff can host; only the host hands over; outsiders are not members.
	wantErr(t, h.rooms.MakeHost(staff, r.ID, client.ID), rooms.ErrForbidden)
	wantErr(t, h.rooms.MakeHost(staff2, r.ID, staff2.ID), rooms.ErrForbidden)
	wantErr(t, h.rooms.MakeHost(staff, r.ID, outsider.ID), rooms.ErrNotMember)
	if err := h.rooms.MakeHost(staff, r.ID, staff2.ID); err != nil {
		t.Fatal(err)
	}
	if u := recv(t, sub); u.Event == nil || u.Event.Code != rooms.CodeMemberHost || u.Event.Subject != staff2.ID {
		t.Fatalf("update %+v", u)
	}
	if err := h.rooms.Leave(staff, r.ID); err != nil {
		t.Fatal(err)
	}
	if u := recv(t, sub); u.Event == nil || u.Event.Code != rooms.CodeMemberLeft || u.Event.Subject != staff.ID {
		t.Fatalf("update %+v", u)
	}
	if _, _, err := h.rooms.Get(staff, r.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Get after leaving: %v", err)
	}
	if list, _ := h.rooms.List(staff); len(list) != 0 {
		t.Fatalf("List after leaving: %+v", list)
	}

	// The host takes a participant out; they are told the room is gone.
	if err := h.rooms.RemoveMember(staff2, r.ID, client.ID); err != nil {
		t.Fatal(err)
	}
	if u := recv(t, sub); u.Removed != r.ID {
		t.Fatalf("update %+v", u)
	}
	wantErr(t, h.rooms.RemoveMember(staff2, r.ID, client.ID), rooms.ErrNotMember)
	if _, err := h.rooms.Timeline(client, r.ID, 0, 0); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Timeline after removal: %v", err)
	}

	// The last one out: allowed for the host, and the room goes
	// read-only. The history is still there for the records.
	if err := h.rooms.Leave(staff2, r.ID); err != nil {
		t.Fatal(err)
	}
	ids, err := h.rooms.Expired(t0.Add(time.Hour))
	if err != nil || fmt.Sprint(ids) != fmt.Sprint([]uint64{r.ID}) {
		t.Fatalf("Expired = %v, %v", ids, err)
	}
	if n := h.count("room-events", storage.ID(r.ID)); n < 5 {
		t.Fatalf("%d events left", n)
	}

	// A participant leaves on their own.
	r2 := h.room("Två", client)
	if err := h.rooms.Leave(client, r2.ID); err != nil {
		t.Fatal(err)
	}
	if u := recv(t, sub); u.Event == nil || u.Event.Code != rooms.CodeMemberAdded {
		t.Fatalf("update %+v", u)
	}
	if u := recv(t, sub); u.Removed != r2.ID {
		t.Fatalf("update %+v", u)
	}
	nothing(t, sub) // not its own member.left: it no longer sees the room
	got, members, _ := h.rooms.Get(staff, r2.ID)
	if got.Status != rooms.StatusActive || len(members) != 1 {
		t.Fatalf("room %+v members %+v", got, members)
	}
}

func TestPostMeeting(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client)
	_, err := h.rooms.PostMeeting(r.ID, outsider.ID, rooms.CodeMeetingJoined)
	wantErr(t, err, rooms.ErrNotMember)
	_, err = h.rooms.PostMeeting(9999, client.ID, rooms.CodeMeetingJoined)
	wantErr(t, err, rooms.ErrNotFound)
	_, err = h.rooms.PostMeeting(r.ID, client.ID, "meeting.recorded")
	fieldErr(t, err, "code")
	for _, step := range []struct {
		user uint64
		code string
	}{{staff.ID, rooms.CodeMeetingStarted}, {client.ID, rooms.CodeMeetingJoined}, {client.ID, rooms.CodeMeetingLeft}, {0, rooms.CodeMeetingEnded}} {
		e, err := h.rooms.PostMeeting(r.ID, step.user, step.code)
		if err != nil {
			t.Fatal(err)
		}
		if e.Kind != rooms.KindMeeting || e.Code != step.code || e.Subject != step.user || e.AuthorID != 0 || e.Text != "" {
			t.Fatalf("event %+v", e)
		}
	}
	tl, _ := h.rooms.Timeline(client, r.ID, 0, 3)
	if len(tl) != 3 || tl[2].Code != rooms.CodeMeetingEnded {
		t.Fatalf("timeline %+v", tl)
	}
	if list, _ := h.rooms.List(client); list[0].Unread != 0 {
		t.Fatalf("meeting events counted as unread: %d", list[0].Unread)
	}
}

func TestAttachments(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client)
	other := h.room("Annat", client)
	_, err := h.rooms.PostAttachment(client, r.ID, rooms.AttachmentRef{ID: "", Name: "x"})
	fieldErr(t, err, "file")
	_, err = h.rooms.PostAttachment(client, r.ID, rooms.AttachmentRef{ID: "a", Name: " "})
	fieldErr(t, err, "file")
	ref := rooms.AttachmentRef{ID: "Ab3_-x", Name: "röntgen-QWERTY.png", Size: 1234, Type: "image/png"}
	e, err := h.rooms.PostAttachment(client, r.ID, ref)
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != rooms.KindAttachment || *e.Attachment != ref {
		t.Fatalf("event %+v", e)
	}
	for range 3 {
		h.post(staff, r.ID, "efter")
	}
	got, err := h.rooms.Attachment(staff, r.ID, ref.ID)
	if err != nil || got != ref {
		t.Fatalf("Attachment = %+v, %v", got, err)
	}
	_, err = h.rooms.Attachment(client, other.ID, ref.ID) // another room of the same people
	wantErr(t, err, rooms.ErrNotFound)
	_, err = h.rooms.Attachment(client, r.ID, "Ab3_")
	wantErr(t, err, rooms.ErrNotFound)
	tl, _ := h.rooms.Timeline(client, r.ID, e.ID+1, 1)
	if len(tl) != 1 || tl[0].Attachment == nil || *tl[0].Attachment != ref {
		t.Fatalf("timeline %+v", tl)
	}
	if h.fileContains("QWERTY") {
		t.Fatal("the file name is in the database file in clear")
	}
	// The staff member's download of a client's file is logged.
	es := h.auditActions(staff.ID, "attachment.read")
	if len(es) != 1 || es[0].SubjectID != client.ID || es[0].Detail != fmt.Sprintf("room:%d,event:%d", r.ID, e.ID) {
		t.Fatalf("access log %+v", es)
	}
}

func TestRetention(t *testing.T) {
	h := newHarness(t)
	old := h.room("Gammal", client)
	h.post(client, old.ID, "för länge sedan")
	h.clock.Advance(400 * 24 * time.Hour)
	fresh := h.room("Ny", client)
	h.post(client, fresh.ID, "nyss")

	ids, err := h.rooms.InactivateIdle(t0.Add(24 * time.Hour))
	if err != nil || fmt.Sprint(ids) != fmt.Sprint([]uint64{old.ID}) {
		t.Fatalf("InactivateIdle = %v, %v", ids, err)
	}
	got, _, _ := h.rooms.Get(client, old.ID)
	if got.Status != rooms.StatusInactive {
		t.Fatalf("room %+v", got)
	}
	h.clock.Advance(time.Hour)
	ids, _ = h.rooms.Expired(h.clock.Now())
	if fmt.Sprint(ids) != fmt.Sprint([]uint64{old.ID}) {
		t.Fatalf("Expired = %v", ids)
	}
	if _, err := h.rooms.Purge(old.ID); err != nil {
		t.Fatal(err)
	}
	if h.keys.Has(rooms.Subject(old.ID)) {
		t.Fatal("the key survived Purge")
	}
	if _, err := h.rooms.Purge(old.ID); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatalf("Purge again: %v", err)
	}
	if act, _ := h.rooms.Activity(old.ID); len(act) != 2 {
		t.Fatalf("activity %+v", act)
	}
	n, err := h.rooms.PruneActivity(t0.Add(24 * time.Hour))
	if err != nil || n != 2 {
		t.Fatalf("PruneActivity = %d, %v", n, err)
	}
	if act, _ := h.rooms.Activity(old.ID); len(act) != 0 {
		t.Fatalf("activity %+v", act)
	}
	if act, _ := h.rooms.Activity(fresh.ID); len(act) != 2 {
		t.Fatalf("activity of the fresh room %+v", act)
	}
}
