package web

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"clinicbox/appliance/identity"
)

// Access is who may use a route. Every route declares one when it is
// registered (Server.route); the route × role test in access_test.go
// fails for a route it does not know, so no route is added without
// deciding who may use it.
type Access struct {
	name    string
	public  bool
	partial bool            // a session that has passed the password but not yet the second factor
	roles   []identity.Role // for complete sessions
}

// Public routes need no login.
var Public = Access{name: "public", public: true}

// SecondFactorPending routes are the pages between password and second
// factor: entering a code, enrolling one. Complete sessions may use them
// too.
var SecondFactorPending = Access{name: "second-factor", partial: true, roles: identity.Roles()}

// Roles allows complete sessions of the given roles.
func Roles(roles ...identity.Role) Access {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return Access{name: "roles:" + strings.Join(names, ","), roles: roles}
}

// AnyUser allows every complete session.
var AnyUser = Roles(identity.Roles()...)

// Allows reports whether a visitor with this session may use the route.
// A nil session is an anonymous visitor.
func (a Access) Allows(sess *identity.Session) bool {
	if a.public {
		return true
	}
	if sess == nil {
		return false
	}
	if !sess.Complete && !a.partial {
		return false
	}
	return slices.Contains(a.roles, sess.Role)
}

// routeInfo is one registered route, kept for the route × role test.
type routeInfo struct {
	Pattern string
	Access  Access
}

// route registers a handler with its access rule. Denials: an anonymous
// visitor is sent to the login page (or gets 401 from the API); a
// half-logged-in one to the second-factor page; a logged-in user without
// the role gets 403.
func (s *Server) route(pattern string, access Access, h http.HandlerFunc) {
	s.registered = append(s.registered, routeInfo{pattern, access})
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if access.public {
			// Public pages need no session: no lookup for every static
			// file of a logged-in user.
			h(w, r)
			return
		}
		sess, user := s.sessionOf(w, r)
		if !access.Allows(sess) {
			s.deny(w, r, sess)
			return
		}
		if !isSafeMethod(r.Method) {
			// Defence in depth beside the cross-origin check: forms of a
			// session carry its token.
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" && strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				// A file upload is streamed by its handler: reading the
				// body here would buffer the whole file. Its form carries
				// the token in the URL instead.
				tok = r.URL.Query().Get("csrf")
			} else if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if !sess.ValidCSRF(tok) {
				s.renderMessage(w, r, http.StatusForbidden, "error.title", "error.csrf")
				return
			}
		}
		if needsTerms(user) && !termsExempt(r.URL.Path) {
			http.Redirect(w, r, "/terms", http.StatusSeeOther)
			return
		}
		if today := time.Now().UTC().Truncate(24 * time.Hour); !user.LastActiveAt.Equal(today) {
			// The admin sees the date each colleague was last active:
			// one write per user and day, nothing finer.
			s.opts.Identity.Touch(user.ID, today)
		}
		r = r.WithContext(context.WithValue(r.Context(), authKey{}, &auth{sess: *sess, user: user}))
		h(w, r)
	}))
}

// termsExempt are the pages a user who has not accepted the current terms
// may still use: the terms themselves and logging out.
func termsExempt(path string) bool {
	return path == "/terms" || path == "/logout"
}

func isSafeMethod(m string) bool { return m == "GET" || m == "HEAD" || m == "OPTIONS" }

func (s *Server) deny(w http.ResponseWriter, r *http.Request, sess *identity.Session) {
	isAPI := strings.HasPrefix(r.URL.Path, "/api/")
	switch {
	case sess == nil && isAPI:
		writeJSONError(w, http.StatusUnauthorized, "Log in first.")
	case sess == nil:
		next := r.URL.RequestURI()
		http.Redirect(w, r, "/login?next="+url.QueryEscape(next), http.StatusSeeOther)
	case !sess.Complete:
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
	case isAPI:
		writeJSONError(w, http.StatusForbidden, "Your account does not have access to this.")
	default:
		s.renderMessage(w, r, http.StatusForbidden, "error.title", "error.forbidden")
	}
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	b, _ := json.Marshal(struct {
		Error string `json:"error"`
	}{msg})
	w.Write(append(b, '\n'))
}

// auth is the logged-in visitor of a request.
type auth struct {
	sess identity.Session
	user identity.User
}

type authKey struct{}

func authOf(r *http.Request) *auth {
	a, _ := r.Context().Value(authKey{}).(*auth)
	return a
}

// SessionCookie is the session cookie's name. The __Host- prefix makes
// browsers refuse it unless it is Secure, host-only and for path /.
const SessionCookie = "__Host-clinicbox"

// sessionOf loads the visitor's session; an expired or unknown cookie is
// cleared.
func (s *Server) sessionOf(w http.ResponseWriter, r *http.Request) (*identity.Session, identity.User) {
	if s.opts.Identity == nil {
		return nil, identity.User{}
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil {
		return nil, identity.User{}
	}
	sess, err := s.opts.Identity.Session(c.Value)
	if err != nil {
		clearSessionCookie(w)
		return nil, identity.User{}
	}
	user, err := s.opts.Identity.User(sess.UserID)
	if err != nil || user.Status == identity.StatusDeactivated {
		clearSessionCookie(w)
		return nil, identity.User{}
	}
	return &sess, user
}

func setSessionCookie(w http.ResponseWriter, tok string) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: tok, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: int(identity.AbsoluteTimeout / time.Second)})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

func sessionToken(r *http.Request) string {
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}
