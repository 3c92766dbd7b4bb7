package web

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
)

type roomsEnv struct {
	*auditEnv
	rooms *rooms.Store
	files *attachments.Store
}

// newRoomsEnv is a web server with identity, access log, rooms and the
// encrypted file store, all on real files in a temp dir.
func newRoomsEnv(t testing.TB) *roomsEnv {
	t.Helper()
	e := newAuditEnv(t)
	rs, err := rooms.New(rooms.Options{DB: e.db, Keys: e.keys, Audit: e.log})
	if err != nil {
		t.Fatal(err)
	}
	fs, err := attachments.New(attachments.Options{Dir: filepath.Join(t.TempDir(), "files"), Keys: e.keys, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Identity: e.ids, Keys: e.keys, Audit: e.log, Rooms: rs, Files: fs, MaxUpload: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	return &roomsEnv{auditEnv: e, rooms: rs, files: fs}
}

func (e *roomsEnv) roomWith(t *testing.T, host identity.User, members ...identity.User) uint64 {
	t.Helper()
	rec := e.request(host, "POST", "/rooms", map[string][]string{"title": {"Samtal med Kalle"}})
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("create room: %d %s", rec.Code, rec.Body)
	}
	id, _ := strconv.ParseUint(strings.TrimPrefix(rec.Header().Get("Location"), "/rooms/"), 10, 64)
	for _, m := range members {
		if rec := e.request(host, "POST", fmt.Sprintf("/rooms/%d/members", id), map[string][]string{"user": {strconv.FormatUint(m.ID, 10)}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("add member: %d %s", rec.Code, rec.Body)
		}
	}
	return id
}

func (e *roomsEnv) unitOf(t *testing.T, users ...identity.User) []identity.User {
	unit, _ := e.ids.CreateUnit("Mottagning Öst", identity.UnitStandard)
	out := make([]identity.User, len(users))
	for i, u := range users {
		e.ids.SetUnits(u.ID, []uint64{unit.ID})
		out[i], _ = e.ids.User(u.ID)
	}
	return out
}

func TestRoomMessagesAndPrivacy(t *testing.T) {
	e := newRoomsEnv(t)
	people := e.unitOf(t, e.user(identity.RoleStaff, "Anna Lind", "Psykolog"), e.user(identity.RoleClient, "Kalle Klient", ""),
		e.user(identity.RoleClient, "Olle Utanför", ""))
	staff, client, outsider := people[0], people[1], people[2]
	id := e.roomWith(t, staff, client)
	path := fmt.Sprintf("/rooms/%d", id)

	// Bad input: empty and oversized messages, nothing stored.
	if rec := e.request(client, "POST", path+"/messages", map[string][]string{"text": {"   "}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("empty message: %d", rec.Code)
	}
	if rec := e.request(client, "POST", path+"/messages", map[string][]string{"text": {strings.Repeat("x", 10001)}}); rec.Code != http.StatusUnprocessableEntity {
		t.Fatalf("long message: %d", rec.Code)
	}
	if rec := e.request(client, "POST", path+"/messages", map[string][]string{"text": {"Hej! Se https://1177.se/a?b=c<script>"}}); rec.Code != http.StatusSeeOther {
		t.Fatalf("post: %d %s", rec.Code, rec.Body)
	}
	before := e.count()
	body := e.get(staff, path).Body.String()
	if !strings.Contains(body, `<a href="https://1177.se/a?b=c" rel="noopener noreferrer nofollow" target="_blank">`) || strings.Contains(body, "<script>") {
		t.Fatalf("message not shown safely: %s", body)
	}
	if e.count() != before+1 {
		t.Fatalf("staff opening a client's room must be logged once per client (%d → %d)", before, e.count())
	}
	// Someone who is not in the room gets 404, as for a room that does not exist.
	for _, p := range []string{path, path + "/attachments/x", fmt.Sprintf("/rooms/%d", id+100)} {
		if rec := e.get(outsider, p); rec.Code != http.StatusNotFound {
			t.Errorf("outsider %s: %d", p, rec.Code)
		}
	}
	if rec := e.request(outsider, "POST", path+"/messages", map[string][]string{"text": {"hej"}}); rec.Code != http.StatusNotFound {
		t.Errorf("outsider posting: %d", rec.Code)
	}
	if rec := e.get(outsider, "/rooms"); strings.Contains(rec.Body.String(), "Samtal med Kalle") {
		t.Error("the room list shows a room to someone outside it")
	}
}

// jpegWithGPS makes a JPEG with an Exif APP1 segment holding a marker.
func jpegWithGPS(t *testing.T, marker string) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for x := 0; x < 32; x++ {
		img.Set(x, x%24, color.RGBA{200, 10, 10, 255})
	}
	var plain bytes.Buffer
	jpeg.Encode(&plain, img, nil)
	exif := append([]byte("Exif\x00\x00"), []byte("GPS "+marker)...)
	seg := []byte{0xFF, 0xE1, byte((len(exif) + 2) >> 8), byte(len(exif) + 2)}
	b := plain.Bytes()
	return append(append(append([]byte{}, b[:2]...), append(seg, exif...)...), b[2:]...)
}

func (e *roomsEnv) upload(t *testing.T, u identity.User, roomID uint64, name string, content []byte) *httptest.ResponseRecorder {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, _ := mw.CreateFormFile("file", name)
	fw.Write(content)
	mw.Close()
	s := e.sessn[u.ID]
	if s.tok == "" {
		e.get(u, "/rooms")
		s = e.sessn[u.ID]
	}
	req := httptest.NewRequest("POST", fmt.Sprintf("https://box.test/rooms/%d/attachments", roomID), &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", s.csrf)
	req.AddCookie(&http.Cookie{Name: SessionCookie, Value: s.tok})
	rec := httptest.NewRecorder()
	e.srv.Handler().ServeHTTP(rec, req)
	return rec
}

func TestRoomAttachments(t *testing.T) {
	e := newRoomsEnv(t)
	people := e.unitOf(t, e.user(identity.RoleStaff, "Anna Lind", "Psykolog"), e.user(identity.RoleClient, "Kalle Klient", ""))
	staff, client := people[0], people[1]
	id := e.roomWith(t, staff, client)
	const marker = "MARKER-59.3293N-18.0686E"
	if rec := e.upload(t, client, id, "semester.jpg", jpegWithGPS(t, marker)); rec.Code != http.StatusCreated {
		t.Fatalf("upload: %d %s", rec.Code, rec.Body)
	}
	if rec := e.upload(t, client, id, "report.pdf", []byte("MZ\x90\x00 not a pdf")); rec.Code != http.StatusUnsupportedMediaType {
		t.Fatalf("an executable named .pdf: %d", rec.Code)
	}
	if rec := e.upload(t, client, id, "big.pdf", append([]byte("%PDF-1.7\n"), make([]byte, 2<<20)...)); rec.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the limit: %d", rec.Code)
	}
	events, _ := e.rooms.Timeline(rooms.Actor{ID: staff.ID, Role: "staff"}, id, 0, 10)
	var ref *rooms.AttachmentRef
	for _, ev := range events {
		if ev.Attachment != nil {
			ref = ev.Attachment
		}
	}
	if ref == nil {
		t.Fatal("no attachment event")
	}
	rec := e.get(staff, fmt.Sprintf("/rooms/%d/attachments/%s", id, ref.ID))
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/jpeg" {
		t.Fatalf("download: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	got := rec.Body.Bytes()
	if bytes.Contains(got, []byte(marker)) || bytes.Contains(got, []byte("Exif")) {
		t.Fatal("the picture's metadata was not removed")
	}
	if _, _, err := image.Decode(bytes.NewReader(got)); err != nil {
		t.Fatalf("the picture no longer decodes: %v", err)
	}
}

// TestLiveResume: a client that drops its connection and resumes from the
// last id it saw gets every message once, in order.
func TestLiveResume(t *testing.T) {
	e := newRoomsEnv(t)
	people := e.unitOf(t, e.user(identity.RoleStaff, "Anna Lind", "Psykolog"), e.user(identity.RoleClient, "Kalle Klient", ""))
	staff, client := people[0], people[1]
	id := e.roomWith(t, staff, client)
	srv := httptest.NewTLSServer(e.srv.Handler())
	defer srv.Close()
	dial := func(after uint64) *websocket.Conn {
		tok, _, _ := e.ids.StartSession(client, true)
		h := http.Header{"Cookie": {SessionCookie + "=" + tok}}
		ws, _, err := websocket.Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/live",
			&websocket.DialOptions{HTTPClient: srv.Client(), HTTPHeader: h})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := json.Marshal(map[string]any{"type": "resume", "after": after})
		ws.Write(context.Background(), websocket.MessageText, b)
		return ws
	}
	readMessages := func(ws *websocket.Conn, n int) []uint64 {
		var ids []uint64
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for len(ids) < n {
			_, data, err := ws.Read(ctx)
			if err != nil {
				t.Fatalf("after %v: %v", ids, err)
			}
			var m struct {
				Type  string    `json:"type"`
				Event eventView `json:"event"`
			}
			json.Unmarshal(data, &m)
			if m.Type == "event" && m.Event.Kind == "message" {
				ids = append(ids, m.Event.ID)
			}
		}
		return ids
	}
	post := func(text string) {
		if rec := e.request(staff, "POST", fmt.Sprintf("/rooms/%d/messages", id), map[string][]string{"text": {text}}); rec.Code != http.StatusSeeOther {
			t.Fatalf("post: %d", rec.Code)
		}
	}
	ws := dial(0)
	post("one")
	post("two")
	first := readMessages(ws, 2)
	ws.CloseNow() // the connection drops
	post("three")
	post("four")
	ws = dial(first[1]) // resume from the last id seen
	defer ws.CloseNow()
	post("five")
	rest := readMessages(ws, 3)
	all := append(first, rest...)
	for i := 1; i < len(all); i++ {
		if all[i] <= all[i-1] {
			t.Fatalf("messages out of order or twice: %v", all)
		}
	}
	if len(all) != 5 {
		t.Fatalf("%v", all)
	}
	_ = io.Discard
}
