package web

import (
	"encoding/json"
	"errors"
	"html/template"
	"io"
	"mime"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/rooms"
	"clinicbox/appliance/rooms/attachments"
)

// roomUsers are the roles that take part in rooms. Technicians never see
// client data.
var roomUsers = Roles(identity.RoleAdmin, identity.RoleStaff, identity.RoleClient, identity.RoleRelative)

func (s *Server) roomRoutes() {
	staff := Roles(identity.RoleAdmin, identity.RoleStaff)
	s.route("GET /rooms", roomUsers, s.roomList)
	s.route("POST /rooms", staff, s.roomCreate)
	s.route("GET /rooms/{id}", roomUsers, s.roomPage)
	s.route("POST /rooms/{id}/messages", roomUsers, s.roomPost)
	s.route("POST /rooms/{id}/attachments", roomUsers, s.roomUpload)
	s.route("GET /rooms/{id}/attachments/{file}", roomUsers, s.roomDownload)
	s.route("POST /rooms/{id}/members", roomUsers, s.roomAddMember)
	s.route("POST /rooms/{id}/leave", roomUsers, s.roomLeave)
	s.route("POST /rooms/{id}/inactivate", roomUsers, s.roomInactivate)
	s.route("POST /rooms/{id}/delete", roomUsers, s.roomDelete)
	s.route("POST /api/v1/rooms/{id}/read", roomUsers, s.roomRead)
	s.route("GET /api/v1/rooms/{id}/events", roomUsers, s.roomEvents)
}

func actorOf(r *http.Request) rooms.Actor {
	u := authOf(r).user
	return rooms.Actor{ID: u.ID, Role: string(u.Role), Units: u.Units}
}

// roomIDOf reads the room id from the path; a malformed one answers 404
// like any room the user cannot see.
func (s *Server) roomIDOf(w http.ResponseWriter, r *http.Request) (uint64, bool) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil || id == 0 {
		s.roomError(w, r, rooms.ErrNotFound)
		return 0, false
	}
	return id, true
}

// roomError answers a domain error: a room the user is not in does not
// exist as far as they can tell (404, never 403).
func (s *Server) roomError(w http.ResponseWriter, r *http.Request, err error) {
	api := wantsJSON(r)
	status, key := http.StatusInternalServerError, ""
	switch {
	case errors.Is(err, rooms.ErrNotFound), errors.Is(err, rooms.ErrNotMember), errors.Is(err, attachments.ErrNotFound):
		status, key = http.StatusNotFound, "error.notfound"
	case errors.Is(err, rooms.ErrForbidden):
		status, key = http.StatusForbidden, "room.forbidden"
	case errors.Is(err, rooms.ErrInactive):
		status, key = http.StatusConflict, "room.inactive"
	case errors.Is(err, rooms.ErrEmpty):
		status, key = http.StatusUnprocessableEntity, "room.empty"
	case errors.Is(err, rooms.ErrTooLong):
		status, key = http.StatusUnprocessableEntity, "room.toolong"
	case errors.Is(err, attachments.ErrTooLarge):
		status, key = http.StatusRequestEntityTooLarge, "room.file.toolarge"
	case errors.Is(err, attachments.ErrType):
		status, key = http.StatusUnsupportedMediaType, "room.file.type"
	}
	var fe *rooms.FieldError
	if errors.As(err, &fe) && key == "" {
		status, key = http.StatusUnprocessableEntity, "room.invalid"
	}
	if key == "" {
		s.serverError(w, r, err)
		return
	}
	l := s.catalogs.For(langOf(w, r))
	if api {
		writeJSONError(w, status, l.T(key))
		return
	}
	s.renderMessage(w, r, status, "room.title", key)
}

func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json")
}

type roomListData struct {
	Rooms   []rooms.Summary
	Units   []identity.Unit
	IsStaff bool
}

func (s *Server) roomList(w http.ResponseWriter, r *http.Request) {
	list, err := s.opts.Rooms.List(actorOf(r))
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	d := &roomListData{Rooms: list}
	u := authOf(r).user
	if u.Role == identity.RoleStaff || u.Role == identity.RoleAdmin {
		d.IsStaff = true
		if d.Units, err = s.inviteUnits(u); err != nil {
			s.serverError(w, r, err)
			return
		}
	}
	s.render(w, r, http.StatusOK, "rooms", "rooms.title", s.form(r, d))
}

func (s *Server) roomCreate(w http.ResponseWriter, r *http.Request) {
	unit, _ := strconv.ParseUint(r.PostFormValue("unit"), 10, 64)
	allowed, _ := s.inviteUnits(authOf(r).user)
	if unit == 0 && len(allowed) == 1 {
		unit = allowed[0].ID // the only choice need not be made
	}
	if !slices.ContainsFunc(allowed, func(u identity.Unit) bool { return u.ID == unit }) {
		unit = 0
	}
	room, err := s.opts.Rooms.Create(actorOf(r), r.PostFormValue("title"), unit)
	if err != nil {
		var fe *rooms.FieldError
		if errors.As(err, &fe) {
			list, _ := s.opts.Rooms.List(actorOf(r))
			units, _ := s.inviteUnits(authOf(r).user)
			f := s.form(r, &roomListData{Rooms: list, Units: units, IsStaff: true})
			f.Values["title"] = r.PostFormValue("title")
			f.Error, f.Field = "room.title.bad", fe.Field
			if fe.Field == "unit" {
				f.Error = "room.unit.bad"
			}
			s.render(w, r, http.StatusUnprocessableEntity, "rooms", "rooms.title", f)
			return
		}
		s.roomError(w, r, err)
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatUint(room.ID, 10), http.StatusSeeOther)
}

// eventView is one timeline entry as the page and the live connection
// show it. Text is plain; links are made clickable here, never HTML from
// the sender.
type eventView struct {
	ID         uint64        `json:"id"`
	Room       uint64        `json:"room"`
	Kind       string        `json:"kind"`
	Author     uint64        `json:"author"`
	AuthorName string        `json:"authorName"`
	Mine       bool          `json:"mine"`
	Time       string        `json:"time"`
	HTML       template.HTML `json:"html"`
	File       *fileView     `json:"file,omitempty"`
}

type fileView struct {
	URL   string `json:"url"`
	Name  string `json:"name"`
	Size  string `json:"size"`
	Image bool   `json:"image"`
}

var linkPattern = regexp.MustCompile(`https?://[^\s<>"']+[^\s<>"'.,;:!?)]`)

// linkify escapes text and turns http(s) links into anchors that open
// safely in a new tab.
func linkify(text string) template.HTML {
	var b strings.Builder
	last := 0
	for _, m := range linkPattern.FindAllStringIndex(text, -1) {
		b.WriteString(template.HTMLEscapeString(text[last:m[0]]))
		link := text[m[0]:m[1]]
		if u, err := url.Parse(link); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			esc := template.HTMLEscapeString(link)
			b.WriteString(`<a href="` + esc + `" rel="noopener noreferrer nofollow" target="_blank">` + esc + `</a>`)
		} else {
			b.WriteString(template.HTMLEscapeString(link))
		}
		last = m[1]
	}
	b.WriteString(template.HTMLEscapeString(text[last:]))
	return template.HTML(strings.ReplaceAll(b.String(), "\n", "<br>"))
}

// viewEvent renders an event for one viewer in their language.
func (s *Server) viewEvent(e rooms.Event, viewer uint64, names map[uint64]string, l interface{ T(string) string }) eventView {
	v := eventView{ID: e.ID, Room: e.RoomID, Kind: string(e.Kind), Author: e.AuthorID, AuthorName: names[e.AuthorID],
		Mine: e.AuthorID == viewer && viewer != 0, Time: clockText(e.Time)}
	if v.AuthorName == "" && e.AuthorID != 0 {
		v.AuthorName = l.T("room.former")
	}
	switch e.Kind {
	case rooms.KindMessage:
		v.HTML = linkify(e.Text)
	case rooms.KindAttachment:
		if a := e.Attachment; a != nil {
			v.File = &fileView{URL: "/rooms/" + strconv.FormatUint(e.RoomID, 10) + "/attachments/" + a.ID, Name: a.Name,
				Size: humanSize(a.Size), Image: strings.HasPrefix(a.Type, "image/")}
		}
	default:
		subject := names[e.Subject]
		if subject == "" && e.Subject != 0 {
			subject = l.T("room.former")
		}
		v.HTML = template.HTML(template.HTMLEscapeString(strings.TrimSpace(l.T("event."+e.Code) + " " + subject)))
	}
	return v
}

func clockText(t time.Time) string {
	return stockholmTime(t).Format("2006-01-02 15:04")
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MB"
	case n >= 1<<10:
		return strconv.FormatInt(n>>10, 10) + " kB"
	}
	return strconv.FormatInt(n, 10) + " B"
}

// memberNames maps the room's members (and former ones still known) to
// display names.
func (s *Server) memberNames(members []rooms.Member) map[uint64]string {
	names := map[uint64]string{}
	for _, m := range members {
		if u, err := s.opts.Identity.User(m.UserID); err == nil {
			names[m.UserID] = u.Profile.Name
		}
	}
	return names
}

type memberView struct {
	ID     uint64
	Name   string
	Role   string // host, cohost, participant
	Kind   string // identity role
	Status string // presence
}

type roomPageData struct {
	Room       rooms.Room
	Events     []eventView
	Members    []memberView
	CanManage  bool
	IsHost     bool
	Active     bool
	Candidates []identity.User
	LastID     uint64
	MaxUpload  int64
}

func (s *Server) roomPage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	a := actorOf(r)
	room, members, err := s.opts.Rooms.Get(a, id)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	events, err := s.opts.Rooms.Timeline(a, id, 0, 100)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	l := s.catalogs.For(langOf(w, r))
	names := s.memberNames(members)
	d := &roomPageData{Room: room, Active: room.Status == rooms.StatusActive, MaxUpload: s.opts.MaxUpload}
	for _, e := range events {
		d.Events = append(d.Events, s.viewEvent(e, a.ID, names, l))
		d.LastID = max(d.LastID, e.ID)
	}
	for _, m := range members {
		d.Members = append(d.Members, memberView{m.UserID, names[m.UserID], string(m.Role), m.UserRole, string(s.presence.Status(m.UserID))})
		if m.UserID == a.ID {
			d.CanManage = m.Role == rooms.RoleHost || m.Role == rooms.RoleCohost
			d.IsHost = m.Role == rooms.RoleHost
		}
	}
	if d.CanManage && d.Active {
		contacts, _ := s.contacts(authOf(r).user)
		for _, c := range contacts {
			if !slices.ContainsFunc(members, func(m rooms.Member) bool { return m.UserID == c.ID }) {
				d.Candidates = append(d.Candidates, c)
			}
		}
	}
	if d.LastID > 0 {
		s.opts.Rooms.MarkRead(a, id, d.LastID)
	}
	if s.opts.NotifyRead != nil {
		s.opts.NotifyRead(a.ID, id)
	}
	s.render(w, r, http.StatusOK, "room", "room.title", s.form(r, d))
}

// roomPost sends a message. It answers only after the message is stored
// durably: JSON for the page's script, a redirect for a plain form.
func (s *Server) roomPost(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	ev, err := s.opts.Rooms.Post(actorOf(r), id, r.PostFormValue("text"))
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	s.notifyRoom(r, ev)
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(struct {
			ID uint64 `json:"id"`
		}{ev.ID})
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatUint(id, 10)+"#e"+strconv.FormatUint(ev.ID, 10), http.StatusSeeOther)
}

// roomUpload streams one file from a multipart form into the encrypted
// attachment store: never buffered whole, refused as soon as it passes the
// limit.
func (s *Server) roomUpload(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	a := actorOf(r)
	if _, _, err := s.opts.Rooms.Get(a, id); err != nil {
		s.roomError(w, r, err)
		return
	}
	// The whole request may carry the file plus a little form overhead.
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxUpload+64<<10)
	mr, err := r.MultipartReader()
	if err != nil {
		s.roomError(w, r, &rooms.FieldError{Field: "file", Msg: "not a file upload"})
		return
	}
	var ref *rooms.AttachmentRef
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			s.roomError(w, r, attachments.ErrTooLarge)
			return
		}
		if part.FormName() != "file" || part.FileName() == "" {
			part.Close()
			continue
		}
		meta, err := s.opts.Files.Put(roomSubject(id), part, part.FileName())
		part.Close()
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				err = attachments.ErrTooLarge
			}
			s.roomError(w, r, err)
			return
		}
		ref = &rooms.AttachmentRef{ID: meta.ID, Name: meta.Name, Size: meta.Size, Type: meta.Type}
		break
	}
	if ref == nil {
		s.roomError(w, r, &rooms.FieldError{Field: "file", Msg: "no file"})
		return
	}
	ev, err := s.opts.Rooms.PostAttachment(a, id, *ref)
	if err != nil {
		s.opts.Files.Delete(ref.ID)
		s.roomError(w, r, err)
		return
	}
	s.notifyRoom(r, ev)
	if wantsJSON(r) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(struct {
			ID uint64 `json:"id"`
		}{ev.ID})
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
}

func roomSubject(id uint64) string { return "room:" + strconv.FormatUint(id, 10) }

// roomDownload streams a file back, decrypted, to a member of its room.
func (s *Server) roomDownload(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	a := actorOf(r)
	ref, err := s.opts.Rooms.Attachment(a, id, r.PathValue("file"))
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	rc, err := s.opts.Files.Open(roomSubject(id), ref.ID)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", ref.Type)
	h.Set("Content-Length", strconv.FormatInt(ref.Size, 10))
	h.Set("Cache-Control", "private, no-store")
	disposition := "attachment"
	if strings.HasPrefix(ref.Type, "image/") && r.URL.Query().Get("inline") == "1" {
		disposition = "inline"
	}
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": ref.Name}))
	// A file from a participant must never run as a page of the box.
	h.Set("Content-Security-Policy", "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox")
	io.Copy(w, rc)
}

func (s *Server) roomAddMember(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	uid, _ := strconv.ParseUint(r.PostFormValue("user"), 10, 64)
	contacts, err := s.contacts(authOf(r).user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	i := slices.IndexFunc(contacts, func(u identity.User) bool { return u.ID == uid })
	if i < 0 {
		s.roomError(w, r, &rooms.FieldError{Field: "user", Msg: "not one of your contacts"})
		return
	}
	role := rooms.RoleParticipant
	if r.PostFormValue("cohost") == "yes" {
		role = rooms.RoleCohost
	}
	if err := s.opts.Rooms.AddMember(actorOf(r), id, uid, string(contacts[i].Role), role); err != nil {
		s.roomError(w, r, err)
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
}

func (s *Server) roomLeave(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	if err := s.opts.Rooms.Leave(actorOf(r), id); err != nil {
		var fe *rooms.FieldError
		if errors.As(err, &fe) {
			s.renderMessage(w, r, http.StatusConflict, "room.title", "room.lasthost")
			return
		}
		s.roomError(w, r, err)
		return
	}
	http.Redirect(w, r, "/rooms", http.StatusSeeOther)
}

func (s *Server) roomInactivate(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	if err := s.opts.Rooms.Inactivate(actorOf(r), id); err != nil {
		s.roomError(w, r, err)
		return
	}
	http.Redirect(w, r, "/rooms/"+strconv.FormatUint(id, 10), http.StatusSeeOther)
}

// roomDelete deletes a room and its files at once; the host confirms by
// typing nothing but a tick box (a clinician between patients).
func (s *Server) roomDelete(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	if r.PostFormValue("confirm") != "yes" {
		s.renderMessage(w, r, http.StatusUnprocessableEntity, "room.title", "room.delete.confirm")
		return
	}
	files, err := s.opts.Rooms.Delete(actorOf(r), id)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	for _, f := range files {
		if err := s.opts.Files.Delete(f); err != nil {
			s.log.Warn("deleting an attachment of a deleted room", "room", id, "err", err)
		}
	}
	s.log.Info("room deleted", "actor", authOf(r).user.ID, "room", id, "files", len(files))
	s.renderMessage(w, r, http.StatusOK, "room.title", "room.deleted")
}

// roomRead records how far the user has read (from the page's script).
func (s *Server) roomRead(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	var body struct {
		Event uint64 `json:"event"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 1024)).Decode(&body); err != nil || body.Event == 0 {
		writeJSONError(w, http.StatusBadRequest, "Send {\"event\": <id>}.")
		return
	}
	if err := s.opts.Rooms.MarkRead(actorOf(r), id, body.Event); err != nil {
		s.roomError(w, r, err)
		return
	}
	if s.opts.NotifyRead != nil {
		s.opts.NotifyRead(authOf(r).user.ID, id)
	}
	w.WriteHeader(http.StatusNoContent)
}

// roomEvents serves older timeline pages: ?before=<event id>.
func (s *Server) roomEvents(w http.ResponseWriter, r *http.Request) {
	id, ok := s.roomIDOf(w, r)
	if !ok {
		return
	}
	before, _ := strconv.ParseUint(r.URL.Query().Get("before"), 10, 64)
	a := actorOf(r)
	_, members, err := s.opts.Rooms.Get(a, id)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	events, err := s.opts.Rooms.Timeline(a, id, before, 50)
	if err != nil {
		s.roomError(w, r, err)
		return
	}
	l := s.catalogs.For(langOf(w, r))
	names := s.memberNames(members)
	out := make([]eventView, 0, len(events))
	for _, e := range events {
		out = append(out, s.viewEvent(e, a.ID, names, l))
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(out)
}

// notifyRoom tells the other members that something is waiting (no
// content, no room title: see appliance/notify).
func (s *Server) notifyRoom(r *http.Request, ev rooms.Event) {
	if s.opts.Notify == nil {
		return
	}
	_, members, err := s.opts.Rooms.Get(actorOf(r), ev.RoomID)
	if err != nil {
		return
	}
	for _, m := range members {
		if m.UserID != ev.AuthorID {
			s.opts.Notify(r.Context(), m.UserID, ev.RoomID, "message", s.presence.Status(m.UserID))
		}
	}
}
