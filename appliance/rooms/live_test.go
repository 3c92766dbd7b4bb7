package rooms_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/appliance/rooms"
	"clinicbox/storage"
	"clinicbox/storage/keystore"
)

// auditActions returns the actor's access-log entries with the action.
func (h *harness) auditActions(actor uint64, action string) []auditlog.Entry {
	h.t.Helper()
	return slices.DeleteFunc(h.auditEntries(auditlog.Query{ActorID: actor}), func(e auditlog.Entry) bool { return e.Action != action })
}

func TestDeleteErasesContent(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum-TITLEMARK-7f3a", client, staff2)
	keep := h.room("Kvar", client)
	const marker = "MSGMARK-c0ffee-5e1f"
	h.clock.Advance(24 * time.Hour)
	msg := h.post(client, r.ID, "hemligt "+marker)
	if _, err := h.rooms.PostAttachment(client, r.ID, rooms.AttachmentRef{ID: "file-1", Name: "a.pdf", Size: 10}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.rooms.PostAttachment(staff, r.ID, rooms.AttachmentRef{ID: "file-2", Name: "b.pdf", Size: 20}); err != nil {
		t.Fatal(err)
	}
	h.post(client, keep.ID, "stays")
	// The attachments package keeps metadata under the file id.
	if err := h.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("attachments"))
		for _, id := range []string{"file-1", "file-2", "file-other"} {
			if err := b.Put([]byte(id), []byte("meta")); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// What an attacker with the file would have: the sealed message.
	var sealed []byte
	if err := h.db.View(func(tx *bbolt.Tx) error {
		rec, _, err := storage.Get[struct {
			Body []byte `json:"body"`
		}](tx.Bucket([]byte("room-events")), append(storage.ID(r.ID), storage.ID(msg.ID)...))
		sealed = rec.Body
		return err
	}); err != nil || len(sealed) == 0 {
		t.Fatalf("sealed body: %v", err)
	}
	if h.fileContains(marker) || h.fileContains("TITLEMARK") {
		t.Fatal("plaintext in the database file before the deletion")
	}

	sub, cancel := h.rooms.Subscribe(client.ID)
	defer cancel()
	_, err := h.rooms.Delete(client, r.ID)
	wantErr(t, err, rooms.ErrForbidden)
	if err := h.rooms.AddMember(staff, r.ID, staff2.ID, "staff", rooms.RoleCohost); err != nil {
		t.Fatal(err)
	}
	_, err = h.rooms.Delete(staff2, r.ID) // co-hosts do not delete
	wantErr(t, err, rooms.ErrForbidden)
	recv(t, sub) // the role change

	h.clock.Advance(24 * time.Hour)
	files, err := h.rooms.Delete(staff, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	if fmt.Sprint(files) != "[file-1 file-2]" {
		t.Fatalf("attachment ids %v", files)
	}
	if u := recv(t, sub); u.Removed != r.ID {
		t.Fatalf("update %+v", u)
	}

	// The records are gone...
	for bucket, prefix := range map[string][]byte{
		"room-events": storage.ID(r.ID), "room-members": storage.ID(r.ID), "rooms": storage.ID(r.ID),
		"user-rooms": storage.ID(client.ID), "attachments": []byte("file-"),
	} {
		want := 0
		switch bucket {
		case "user-rooms":
			want = 1 // the client's other room
		case "attachments":
			want = 1 // another room's file
		}
		if n := h.count(bucket, prefix); n != want {
			t.Errorf("%s: %d keys left, want %d", bucket, n, want)
		}
	}
	for _, a := range []rooms.Actor{staff, staff2, client} {
		if _, _, err := h.rooms.Get(a, r.ID); !errors.Is(err, rooms.ErrNotFound) {
			t.Fatalf("Get by %d: %v", a.ID, err)
		}
		evs, err := h.rooms.EventsSince(a, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if e.RoomID == r.ID {
				t.Fatalf("event %+v survived", e)
			}
		}
	}
	if list, _ := h.rooms.List(client); len(list) != 1 || list[0].Room.ID != keep.ID {
		t.Fatalf("List %+v", list)
	}
	// ...the key is erased, in memory and in the key file...
	if h.keys.Has(rooms.Subject(r.ID)) {
		t.Fatal("the room's key is still in the key store")
	}
	if _, err := h.keys.Open(rooms.Subject(r.ID), sealed, []byte("event")); !errors.Is(err, keystore.ErrNoKey) {
		t.Fatalf("opening the old ciphertext: %v", err)
	}
	keyFile, err := os.ReadFile(filepath.Join(h.dir, "keys", "subjects.keys"))
	if err != nil {
		t.Fatal(err)
	}
	subject := rooms.Subject(r.ID)
	if strings.Contains(string(keyFile), string(rune(len(subject)))+subject) {
		t.Fatal("subjects.keys still names the room")
	}
	// ...no plaintext anywhere in the file, free pages included...
	if h.fileContains(marker) || h.fileContains("TITLEMARK") {
		t.Fatal("plaintext in the database file")
	}
	// ...and the content-free activity log stays: who, which day.
	act, err := h.rooms.Activity(r.ID)
	if err != nil {
		t.Fatal(err)
	}
	day0 := t0.Truncate(24 * time.Hour)
	want := fmt.Sprintf("[{%d %v} {%d %v} {%d %v} {%d %v}]", staff.ID, day0, staff.ID, day0.Add(24*time.Hour),
		client.ID, day0.Add(24*time.Hour), staff.ID, day0.Add(48*time.Hour))
	if fmt.Sprint(act) != want {
		t.Fatalf("activity %v, want %s", act, want)
	}
	// The other room is untouched, its key too.
	if tl, err := h.rooms.Timeline(client, keep.ID, 0, 0); err != nil || tl[len(tl)-1].Text != "stays" {
		t.Fatalf("other room: %+v, %v", tl, err)
	}
	// The id is never reused: a new room gets a new key.
	nr := h.room("Nytt")
	if nr.ID == r.ID {
		t.Fatal("room id reused")
	}
}

func TestAccessLog(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client, relative, staff2)
	staffOnly := h.room("Kollegor", staff2)
	h.post(client, r.ID, "hej")
	if err := h.rooms.AddMember(staff, r.ID, admin.ID, "admin", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}

	// Clients, relatives and the live catch-up leave nothing.
	for _, a := range []rooms.Actor{client, relative} {
		if _, err := h.rooms.Timeline(a, r.ID, 0, 0); err != nil {
			t.Fatal(err)
		}
	}
	for _, a := range []rooms.Actor{staff, client, admin} {
		if _, err := h.rooms.EventsSince(a, 0, 100); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := h.rooms.Timeline(staff, staffOnly.ID, 0, 0); err != nil {
		t.Fatal(err)
	}
	if n, _ := h.audit.Count(); n != 0 {
		t.Fatalf("%d access-log entries, want none", n)
	}

	// A staff member opening the client's room: one entry per client
	// or relative in it.
	h.clock.Advance(time.Minute)
	if _, err := h.rooms.Timeline(staff2, r.ID, 0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := h.rooms.Timeline(admin, r.ID, 0, 0); err != nil {
		t.Fatal(err)
	}
	es := h.auditEntries(auditlog.Query{})
	var got []string
	for _, e := range es {
		got = append(got, fmt.Sprintf("%d/%s→%d unit %d %s %s %v", e.ActorID, e.ActorRole, e.SubjectID, e.UnitID, e.Action, e.Detail, e.Time.Equal(h.clock.Now())))
	}
	detail := fmt.Sprintf("room:%d", r.ID)
	want := []string{
		"2/staff→3 unit 1 room.read " + detail + " true",
		"2/staff→4 unit 1 room.read " + detail + " true",
		"5/admin→3 unit 1 room.read " + detail + " true",
		"5/admin→4 unit 1 room.read " + detail + " true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("access log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, problems, err := h.audit.Verify(); err != nil || len(problems) != 0 {
		t.Fatalf("the chain does not verify: %v %v", problems, err)
	}
	// An outsider's attempt is not a read and logs nothing.
	if _, err := h.rooms.Timeline(outsider, r.ID, 0, 0); !errors.Is(err, rooms.ErrNotFound) {
		t.Fatal(err)
	}
	if n, _ := h.audit.Count(); n != 4 {
		t.Fatalf("%d entries after an outsider's attempt", n)
	}
}

func TestSubscribe(t *testing.T) {
	h := newHarness(t)
	r := h.room("Rum", client)
	subClient, cancelClient := h.rooms.Subscribe(client.ID)
	defer cancelClient()
	subStaff, cancelStaff := h.rooms.Subscribe(staff.ID)
	defer cancelStaff()
	subOther, cancelOther := h.rooms.Subscribe(outsider.ID)
	defer cancelOther()
	second, cancelSecond := h.rooms.Subscribe(client.ID) // another tab
	if h.rooms.Subscribers() != 4 {
		t.Fatalf("%d subscribers", h.rooms.Subscribers())
	}

	e := h.post(staff, r.ID, "hej")
	for _, ch := range []<-chan rooms.Update{subClient, subStaff, second} {
		u := recv(t, ch)
		if u.Event == nil || u.Event.ID != e.ID || u.Event.Text != "hej" || u.Event.AuthorID != staff.ID {
			t.Fatalf("update %+v", u)
		}
	}
	cancelSecond()
	cancelSecond() // twice is fine
	if _, ok := <-second; ok {
		t.Fatal("a cancelled subscription stays open")
	}

	if err := h.rooms.MarkRead(client, r.ID, e.ID); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan rooms.Update{subClient, subStaff} {
		u := recv(t, ch)
		if u.Receipt == nil || *u.Receipt != (rooms.Receipt{RoomID: r.ID, UserID: client.ID, EventID: e.ID}) {
			t.Fatalf("update %+v", u)
		}
	}
	// Reading again changes nothing: no receipt.
	if err := h.rooms.MarkRead(client, r.ID, e.ID); err != nil {
		t.Fatal(err)
	}
	// A newcomer hears of their invitation.
	subNew, cancelNew := h.rooms.Subscribe(relative.ID)
	defer cancelNew()
	if err := h.rooms.AddMember(staff, r.ID, relative.ID, "relative", rooms.RoleParticipant); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan rooms.Update{subClient, subStaff, subNew} {
		if u := recv(t, ch); u.Event == nil || u.Event.Code != rooms.CodeMemberAdded || u.Event.Subject != relative.ID {
			t.Fatalf("update %+v", u)
		}
	}
	nothing(t, subOther)
	nothing(t, subClient)
}

// A subscriber that does not read is dropped; writers never wait for it.
func TestSlowSubscriberDoesNotBlock(t *testing.T) {
	h := newHarness(t, withBuffer(4))
	r := h.room("Rum", client)
	slow, cancel := h.rooms.Subscribe(client.ID)
	defer cancel()

	start := time.Now()
	var posted []uint64
	for i := range 20 {
		posted = append(posted, h.post(staff, r.ID, fmt.Sprint(i)).ID)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("20 posts took %v", d)
	}
	n := 0
	for range slow {
		n++
	}
	if n != 4 {
		t.Fatalf("the slow subscriber got %d updates before its channel closed, want the buffer's 4", n)
	}
	if h.rooms.Dropped() != 1 || h.rooms.Subscribers() != 0 {
		t.Fatalf("Dropped = %d, Subscribers = %d", h.rooms.Dropped(), h.rooms.Subscribers())
	}
	cancel() // after the drop: harmless
	// The dropped client resumes where it was.
	evs, err := h.rooms.EventsSince(client, posted[3], 100)
	if err != nil || len(evs) != 16 || evs[0].ID != posted[4] {
		t.Fatalf("resume: %d events, %v", len(evs), err)
	}
}

// Many senders at once, in many rooms: every member's catch-up and live
// stream hold each event of their rooms exactly once, in strictly
// increasing id order, and the ids of all committed events have no gaps.
func TestConcurrentPostersAndResume(t *testing.T) {
	h := newHarness(t, withBuffer(100000))
	const nRooms, perSender = 6, 40
	var all []rooms.Room
	for i := range nRooms {
		// The client is in the even rooms, staff in all.
		var with []rooms.Actor
		if i%2 == 0 {
			with = append(with, client)
		}
		all = append(all, h.room(fmt.Sprint("rum ", i), with...))
	}
	setup, err := h.rooms.EventsSince(staff, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	cursor := setup[len(setup)-1].ID

	live, cancel := h.rooms.Subscribe(client.ID)
	defer cancel()
	liveStaff, cancelStaff := h.rooms.Subscribe(staff.ID)
	defer cancelStaff()

	// Batches that fail make bbolt roll back and re-run the posts that
	// shared them: the ids and the live order must survive that.
	stop := make(chan struct{})
	var failers sync.WaitGroup
	failers.Add(1)
	go func() {
		defer failers.Done()
		boom := errors.New("boom")
		for {
			select {
			case <-stop:
				return
			default:
			}
			_ = h.db.Batch(func(tx *bbolt.Tx) error { return boom })
		}
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	posted := map[uint64]uint64{} // event id → room
	for i, r := range all {
		for _, a := range []rooms.Actor{staff, client} {
			if a.ID == client.ID && i%2 != 0 {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := range perSender {
					e, err := h.rooms.Post(a, r.ID, fmt.Sprintf("%d-%d-%d", r.ID, a.ID, j))
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					if _, dup := posted[e.ID]; dup {
						t.Errorf("id %d returned twice", e.ID)
					}
					posted[e.ID] = r.ID
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	close(stop)
	failers.Wait()
	total := (nRooms + nRooms/2) * perSender
	if len(posted) != total {
		t.Fatalf("%d posts, want %d", len(posted), total)
	}
	// No gaps: exactly the ids after the set-up.
	for id := cursor + 1; id <= cursor+uint64(total); id++ {
		if _, ok := posted[id]; !ok {
			t.Fatalf("id %d missing", id)
		}
	}

	for _, tc := range []struct {
		who  rooms.Actor
		live <-chan rooms.Update
	}{{client, live}, {staff, liveStaff}} {
		var want []uint64
		for id, room := range posted {
			if tc.who.ID == staff.ID || slices.IndexFunc(all, func(r rooms.Room) bool { return r.ID == room })%2 == 0 {
				want = append(want, id)
			}
		}
		slices.Sort(want)
		// The catch-up, in small pages, from the cursor.
		var caught []uint64
		for after := cursor; ; {
			evs, err := h.rooms.EventsSince(tc.who, after, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			for _, e := range evs {
				if e.ID <= after {
					t.Fatalf("id %d after %d", e.ID, after)
				}
				if want := fmt.Sprintf("%d-", e.RoomID); !strings.HasPrefix(e.Text, want) {
					t.Fatalf("event %+v in the wrong room", e)
				}
				after = e.ID
				caught = append(caught, e.ID)
			}
		}
		if fmt.Sprint(caught) != fmt.Sprint(want) {
			t.Fatalf("%d: catch-up has %d events, want %d", tc.who.ID, len(caught), len(want))
		}
		// The live stream: the same, in the same order.
		var streamed []uint64
		for len(streamed) < len(want) {
			u := recv(t, tc.live)
			if u.Event != nil {
				streamed = append(streamed, u.Event.ID)
			}
		}
		if fmt.Sprint(streamed) != fmt.Sprint(want) {
			t.Fatalf("%d: live stream out of order or incomplete", tc.who.ID)
		}
	}
}
