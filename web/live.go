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
	"clinicbox/appliance/rooms"
)

// livePing keeps NAT mappings and proxies awake and finds dead peers; the
// session is re-checked at the same pace, so a logout elsewhere or an
// idle timeout closes the live connection within a minute.
const livePing = 30 * time.Second

func (s *Server) liveRoutes() {
	s.route("GET /api/v1/live", AnyUser, s.live)
}

// liveMessage is what the browser sends: whether the person is using the
// tab (idle after some minutes without input), or, after connecting, the
// last room event it has seen ("resume").
type liveMessage struct {
	Type  string `json:"type"`
	Idle  bool   `json:"idle"`
	After uint64 `json:"after"`
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
	// Room updates are subscribed to before the browser says where it is,
	// so nothing falls between the catch-up and the live stream.
	var roomUpdates <-chan rooms.Update
	if s.opts.Rooms != nil {
		ch, unsubscribe := s.opts.Rooms.Subscribe(a.user.ID)
		defer unsubscribe()
		roomUpdates = ch
	}
	resume := make(chan uint64, 1)
	go func() {
		defer cancel()
		for {
			_, data, err := ws.Read(ctx)
			if err != nil {
				return
			}
			var m liveMessage
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			switch m.Type {
			case "activity":
				conn.SetIdle(m.Idle)
			case "resume":
				select {
				case resume <- m.After:
				default:
				}
			}
		}
	}()
	rv := s.newRoomViewer(w, r)
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
		case after := <-resume:
			if s.opts.Rooms == nil {
				continue
			}
			// Catch up from the last event the browser saw: every event
			// once, in order; the live stream then skips what was sent.
			for {
				events, err := s.opts.Rooms.EventsSince(actorOf(r), after, 200)
				if err != nil || len(events) == 0 {
					break
				}
				for _, e := range events {
					if send(rv.event(e)) != nil {
						return
					}
					after = e.ID
				}
				rv.sent = max(rv.sent, after)
			}
			rv.resumed = true
			for _, u := range rv.pending {
				if msg := rv.update(u); msg != nil && send(msg) != nil {
					return
				}
			}
			rv.pending = nil
		case u, ok := <-roomUpdates:
			if !ok {
				// Too slow to follow: the browser reconnects and resumes.
				ws.Close(websocket.StatusTryAgainLater, "resume")
				return
			}
			if !rv.resumed {
				// Held until the catch-up has run, so that nothing is
				// sent twice or out of order.
				if rv.pending = append(rv.pending, u); len(rv.pending) > 1000 {
					ws.Close(websocket.StatusTryAgainLater, "resume")
					return
				}
				continue
			}
			if msg := rv.update(u); msg != nil {
				if send(msg) != nil {
					return
				}
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

// roomViewer renders room updates for one connection: in the viewer's
// language, with names, never an event twice.
type roomViewer struct {
	s       *Server
	viewer  uint64
	actor   rooms.Actor
	l       interface{ T(string) string }
	names   map[uint64]string // user id → display name ("" once erased)
	sent    uint64            // the highest event id sent
	resumed bool
	pending []rooms.Update // live updates that came before the catch-up
}

func (s *Server) newRoomViewer(w http.ResponseWriter, r *http.Request) *roomViewer {
	return &roomViewer{s: s, viewer: authOf(r).user.ID, actor: actorOf(r), l: s.catalogs.For(langOf(w, r)),
		names: map[uint64]string{}}
}

func (rv *roomViewer) event(e rooms.Event) any {
	rv.sent = max(rv.sent, e.ID)
	return struct {
		Type  string    `json:"type"`
		Event eventView `json:"event"`
	}{"event", rv.s.viewEvent(e, rv.viewer, rv.namesFor(e), rv.l)}
}

// namesFor looks up only the people an event mentions (its author and
// subject), once per connection: with hundreds of connections, looking up
// whole member lists would cost more than the message itself.
func (rv *roomViewer) namesFor(e rooms.Event) map[uint64]string {
	for _, id := range []uint64{e.AuthorID, e.Subject} {
		if _, known := rv.names[id]; id == 0 || known {
			continue
		}
		name := ""
		if u, err := rv.s.opts.Identity.User(id); err == nil {
			name = u.Profile.Name
		}
		rv.names[id] = name
	}
	return rv.names
}

func (rv *roomViewer) update(u rooms.Update) any {
	switch {
	case u.Event != nil:
		if u.Event.ID <= rv.sent {
			return nil // already sent by the catch-up
		}
		return rv.event(*u.Event)
	case u.Receipt != nil:
		return struct {
			Type string `json:"type"`
			*rooms.Receipt
		}{"read", u.Receipt}
	case u.Removed != 0:
		return struct {
			Type string `json:"type"`
			Room uint64 `json:"room"`
		}{"removed", u.Removed}
	}
	return nil
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
