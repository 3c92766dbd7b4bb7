package web

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"sort"
	"time"

	"github.com/coder/websocket"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/presence"
)

// livePing keeps NAT mappings and proxies awake and finds dead peers; the
// session is re-checked at the same pace, so a logout elsewhere or an
// idle timeout closes the live connection within a minute.
const livePing = 30 * time.Second

func (s *Server) liveRoutes() {
	s.route("GET /api/v1/live", AnyUser, s.live)
	s.route("GET /contacts", Roles(identity.RoleStaff, identity.RoleAdmin), s.contactsPage)
}

// liveMessage is what the browser sends: whether the person is using the
// tab (idle after some minutes without input).
type liveMessage struct {
	Type string `json:"type"`
	Idle bool   `json:"idle"`
}

// live is the one authenticated WebSocket per browser tab. For now it
// carries presence; messages and read receipts join it with rooms.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	a := authOf(r)
	watch, err := s.contacts(a.user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	ws, err := websocket.Accept(w, r, nil) // same-origin only
	if err != nil {
		return // Accept has answered
	}
	defer ws.CloseNow()
	ws.SetReadLimit(4 << 10)
	ids := make([]uint64, len(watch))
	for i, u := range watch {
		ids[i] = u.ID
	}
	conn := s.presence.Connect(a.user.ID, ids)
	defer conn.Close()

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		defer cancel()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m liveMessage
			if json.Unmarshal(data, &m) == nil && m.Type == "activity" {
				conn.SetIdle(m.Idle)
			}
		}
	}()
	send := func(v any) error {
		b, _ := json.Marshal(v)
		wctx, done := context.WithTimeout(ctx, 10*time.Second)
		defer done()
		return ws.Write(wctx, websocket.MessageText, b)
	}
	for _, u := range conn.Snapshot() {
		if send(presenceEvent(u)) != nil {
			return
		}
	}
	tok := sessionToken(r)
	tick := time.NewTicker(livePing)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			ws.Close(websocket.StatusGoingAway, "")
			return
		case u := <-conn.C:
			if send(presenceEvent(u)) != nil {
				return
			}
		case <-tick.C:
			if _, err := s.opts.Identity.PeekSession(tok); err != nil {
				ws.Close(websocket.StatusPolicyViolation, "session ended")
				return
			}
			pctx, done := context.WithTimeout(ctx, 10*time.Second)
			err := ws.Ping(pctx)
			done()
			if err != nil {
				return
			}
		}
	}
}

func presenceEvent(u presence.Update) any {
	return struct {
		Type string `json:"type"`
		presence.Update
	}{"presence", u}
}

// contacts are the people whose presence a user sees: for staff and
// admins, everyone who shares a unit with them and, for admins, every
// colleague. Clients, relatives and technicians see no one's presence.
// (The rooms capability narrows "contact list" to the clients who have
// interacted with the unit.)
func (s *Server) contacts(me identity.User) ([]identity.User, error) {
	if me.Role != identity.RoleStaff && me.Role != identity.RoleAdmin {
		return nil, nil
	}
	all, err := s.opts.Identity.Users()
	if err != nil {
		return nil, err
	}
	var out []identity.User
	for _, u := range all {
		if u.ID == me.ID || u.Status == identity.StatusDeactivated {
			continue
		}
		shared := slices.ContainsFunc(u.Units, func(id uint64) bool { return slices.Contains(me.Units, id) })
		colleague := me.Role == identity.RoleAdmin && (u.Role == identity.RoleStaff || u.Role == identity.RoleAdmin)
		if shared || colleague {
			out = append(out, u)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Profile.Name < out[j].Profile.Name })
	return out, nil
}

type contactRow struct {
	ID     uint64
	Name   string
	Role   string
	Status string
}

func (s *Server) contactsPage(w http.ResponseWriter, r *http.Request) {
	users, err := s.contacts(authOf(r).user)
	if err != nil {
		s.serverError(w, r, err)
		return
	}
	rows := make([]contactRow, len(users))
	for i, u := range users {
		rows[i] = contactRow{u.ID, u.Profile.Name, string(u.Role), string(s.presence.Status(u.ID))}
	}
	s.render(w, r, http.StatusOK, "contacts", "contacts.title", s.form(r, rows))
}
