package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clinicbox/appliance/identity"
)

var _ = expect(map[string]string{
	"GET /api/v1/live":               "admin staff client relative technician",
	"GET /contacts":                  "admin staff",
	"GET /contacts/{id}":             "admin staff",
	"POST /contacts/{id}/deactivate": "admin staff",
	"POST /contacts/{id}/name":       "admin staff",
	"POST /contacts/{id}/export":     "admin staff",
})

// TestLivePresence connects real WebSockets over TLS: a staff member sees
// a client of the same unit come online, go idle and leave.
func TestLivePresence(t *testing.T) {
	ti := newTestIdentity(t)
	s, _ := New(Options{Identity: ti.store, Keys: ti.keys})
	srv := httptest.NewTLSServer(s.Handler())
	defer srv.Close()
	unit, _ := ti.store.CreateUnit("Mottagning Norr", "standard")
	staff, _ := ti.store.CreateUser(identity.RoleStaff, identity.Profile{Name: "Sara", Email: "sara@example.se"}, []uint64{unit.ID})
	client, _ := ti.store.CreateUser(identity.RoleClient, identity.Profile{Name: "Kalle"}, []uint64{unit.ID})
	ti.store.AcceptTerms(client.ID, TermsVersion)
	stranger, _ := ti.store.CreateUser(identity.RoleClient, identity.Profile{Name: "Other"}, nil)
	ti.store.AcceptTerms(stranger.ID, TermsVersion)

	dial := func(u identity.User) *websocket.Conn {
		t.Helper()
		tok, _, _ := ti.store.StartSession(u, true)
		h := http.Header{}
		h.Set("Cookie", SessionCookie+"="+tok)
		ws, resp, err := websocket.Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/live",
			&websocket.DialOptions{HTTPClient: srv.Client(), HTTPHeader: h})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		return ws
	}
	read := func(ws *websocket.Conn) map[string]any {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, data, err := ws.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		json.Unmarshal(data, &m)
		return m
	}
	expectStatus := func(ws *websocket.Conn, userID uint64, status string) {
		t.Helper()
		m := read(ws)
		if m["type"] != "presence" || uint64(m["user"].(float64)) != userID || m["status"] != status {
			t.Fatalf("got %v, want user %d %s", m, userID, status)
		}
	}

	staffWS := dial(staff)
	defer staffWS.CloseNow()
	expectStatus(staffWS, client.ID, "offline") // the snapshot: only the client of the same unit
	clientWS := dial(client)
	expectStatus(staffWS, client.ID, "online")
	strangerWS := dial(stranger) // not in the unit: staff hear nothing of it
	defer strangerWS.CloseNow()
	clientWS.Write(context.Background(), websocket.MessageText, []byte(`{"type":"activity","idle":true}`))
	expectStatus(staffWS, client.ID, "inactive")
	clientWS.Write(context.Background(), websocket.MessageText, []byte(`{"type":"activity","idle":false}`))
	expectStatus(staffWS, client.ID, "online")
	clientWS.Write(context.Background(), websocket.MessageText, []byte(`not json`)) // ignored
	clientWS.Close(websocket.StatusNormalClosure, "")
	expectStatus(staffWS, client.ID, "offline")

	// Without a session there is no live connection.
	_, resp, err := websocket.Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/live",
		&websocket.DialOptions{HTTPClient: srv.Client()})
	if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous live connection: %v %v", err, resp)
	}
	// A foreign origin is refused (cross-site WebSocket hijacking).
	tok, _, _ := ti.store.StartSession(staff, true)
	h := http.Header{}
	h.Set("Cookie", SessionCookie+"="+tok)
	h.Set("Origin", "https://evil.example")
	if _, resp, err := websocket.Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/live",
		&websocket.DialOptions{HTTPClient: srv.Client(), HTTPHeader: h}); err == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin live connection: %v", err)
	}
}

var _ = expect(map[string]string{"GET /system": "admin technician"})
