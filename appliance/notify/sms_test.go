package notify_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/appliance/notify"
)

// gatewayRequest is a request as the SMS gateway got it.
type gatewayRequest struct {
	Method, Path, RawPath, RawQuery string
	Query                           url.Values
	Header                          http.Header
	Body                            string
}

// smsGateway is a real HTTP server standing in for the SMS gateway.
type smsGateway struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	reqs   []gatewayRequest
}

func startGateway(t *testing.T, tlsServer bool) *smsGateway {
	t.Helper()
	g := &smsGateway{status: http.StatusOK}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.reqs = append(g.reqs, gatewayRequest{Method: r.Method, Path: r.URL.Path, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
			Query: r.URL.Query(), Header: r.Header.Clone(), Body: string(b)})
		status := g.status
		g.mu.Unlock()
		w.WriteHeader(status)
		io.WriteString(w, `{"echo":"`+r.URL.Query().Get("to")+`"}`) // gateways like to repeat the number
	})
	if tlsServer {
		g.Server = httptest.NewTLSServer(h)
	} else {
		g.Server = httptest.NewServer(h)
	}
	t.Cleanup(g.Close)
	return g
}

func (g *smsGateway) setStatus(code int) {
	g.mu.Lock()
	g.status = code
	g.mu.Unlock()
}

func (g *smsGateway) requests() []gatewayRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gatewayRequest(nil), g.reqs...)
}

// TestSMS sends through a GET gateway: the number in international form
// and the text, both escaped into the URL, and the auth header.
func TestSMS(t *testing.T) {
	g := startGateway(t, false)
	log, logs := newLog()
	n := startNotifier(t, notify.Config{ClinicName: "Klinik & Co", PublicURL: "https://box.example-clinic.se/?x=1",
		SMS: &notify.SMSConfig{URL: g.URL + "/send/{to}?to={to}&text={text}&from=clinicbox",
			AuthHeader: "X-Api-Key", AuthValue: "k3y s3cret"}}, log, newClock().Now)
	r := notify.Recipient{UserID: 12, Phone: "070-123 45 67", Email: "anna@example.se", Lang: "sv", NotifySMS: true}
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 4}, true)
	eventually(t, "the SMS", func() bool { return len(g.requests()) == 1 })
	req := g.requests()[0]
	if req.Method != http.MethodGet {
		t.Errorf("method %s", req.Method)
	}
	wantText := "Du har ett nytt meddelande hos Klinik & Co. Logga in för att läsa det: https://box.example-clinic.se/?x=1"
	if req.Query.Get("to") != "+46701234567" || req.Query.Get("text") != wantText || req.Query.Get("from") != "clinicbox" {
		t.Errorf("query %v", req.Query)
	}
	// Escaped: '+' is %2B in the query (else it would read as a space),
	// '&' and '?' in the text cannot start new parameters.
	mustContain(t, "query", req.RawQuery, "to=%2B46701234567&", "Klinik+%26+Co", "%3Fx%3D1")
	if len(req.Query) != 3 {
		t.Errorf("query has %d parameters: %q", len(req.Query), req.RawQuery)
	}
	if req.Path != "/send/+46701234567" {
		t.Errorf("path %q", req.Path)
	}
	if req.Header.Get("X-Api-Key") != "k3y s3cret" {
		t.Errorf("auth header %q", req.Header.Get("X-Api-Key"))
	}
	eventually(t, "the count", func() bool { return counter(t, n, "clinicbox_notify_sent_total", "sms") == 1 })
	if v := counter(t, n, "clinicbox_notify_sent_total", "email"); v != 0 {
		t.Errorf("sent{email} = %v: e-mail was not chosen", v)
	}
	l := logs.String()
	mustContain(t, "log", l, `"user":12`, `"room":4`, `"channel":"sms"`)
	mustNotContain(t, "log", l, "701234567", "70-123", "Du har", "k3y", "anna@")

	// English, a call.
	notifyOK(t, n, notify.Recipient{UserID: 13, Phone: "+44 7700 900123", Lang: "en", NotifySMS: true}, notify.Message{Kind: notify.KindCall, RoomID: 4}, true)
	eventually(t, "the SMS", func() bool { return len(g.requests()) == 2 })
	req = g.requests()[1]
	if req.Query.Get("to") != "+447700900123" || req.Query.Get("text") != "A video call has started at Klinik & Co. Log in to join: https://box.example-clinic.se/?x=1" {
		t.Errorf("query %v", req.Query)
	}
}

// TestSMSPost sends a JSON body over https to a gateway with its own CA.
func TestSMSPost(t *testing.T) {
	g := startGateway(t, true)
	roots := g.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	n := startNotifier(t, notify.Config{ClinicName: `Klinik "Norr"`, SMS: &notify.SMSConfig{URL: g.URL + "/api/sms", Method: http.MethodPost,
		Body: `{"to":"{to}","message":"{text}"}`, AuthHeader: "Authorization", AuthValue: "Bearer abc", RootCAs: roots}}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 1, Phone: "0046 70 123 45 67", Lang: "en", NotifySMS: true}, notify.Message{Kind: notify.KindMessage, RoomID: 1}, true)
	eventually(t, "the SMS", func() bool { return len(g.requests()) == 1 })
	req := g.requests()[0]
	var body struct{ To, Message string }
	if err := json.Unmarshal([]byte(req.Body), &body); err != nil {
		t.Fatalf("body %q: %v", req.Body, err)
	}
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" || req.Header.Get("Authorization") != "Bearer abc" {
		t.Errorf("%s %v", req.Method, req.Header)
	}
	if body.To != "+46701234567" || body.Message != `You have a new message at Klinik "Norr". Log in to read it.` {
		t.Errorf("body %+v", body)
	}

	// A form body.
	g2 := startGateway(t, false)
	n2 := startNotifier(t, notify.Config{SMS: &notify.SMSConfig{URL: g2.URL + "/sms", Method: http.MethodPost, Body: "to={to}&msg={text}"}}, nil, nil)
	notifyOK(t, n2, notify.Recipient{UserID: 1, Phone: "+46 (0)70-123 45 67", NotifySMS: true}, notify.Message{Kind: notify.KindCall, RoomID: 1}, true)
	eventually(t, "the SMS", func() bool { return len(g2.requests()) == 1 })
	req = g2.requests()[0]
	form, err := url.ParseQuery(req.Body)
	if err != nil || req.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		t.Fatalf("body %q: %v", req.Body, err)
	}
	if form.Get("to") != "+46701234567" || form.Get("msg") != "Ett videosamtal har börjat hos clinicbox. Logga in för att delta." {
		t.Errorf("form %v", form)
	}
}

// TestSMSGatewayError: a 500 is retried with backoff, then counted as
// failed with the status in plain words; a 400 is not retried.
func TestSMSGatewayError(t *testing.T) {
	g := startGateway(t, false)
	g.setStatus(http.StatusInternalServerError)
	log, logs := newLog()
	n := startNotifier(t, notify.Config{SMS: &notify.SMSConfig{URL: g.URL + "/?to={to}&text={text}"}, RetryDelay: 10 * time.Millisecond}, log, nil)
	r := notify.Recipient{UserID: 3, Phone: "0701234567", NotifySMS: true}
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 1}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "sms") == 1 })
	if got := len(g.requests()); got != 3 {
		t.Fatalf("%d attempts, want 3", got)
	}
	st := statusOf(t, n, notify.ChannelSMS)
	mustContain(t, "status", st.LastError, "answered 500 Internal Server Error", g.Listener.Addr().String())
	if v := counter(t, n, "clinicbox_notify_sent_total", "sms"); v != 0 {
		t.Fatalf("sent = %v", v)
	}

	g.setStatus(http.StatusBadRequest)
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 2}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "sms") == 2 })
	if got := len(g.requests()); got != 4 {
		t.Fatalf("%d requests, want 4: a 400 is not retried", got)
	}

	// Neither the number nor the text is in the log or the status, even
	// where the gateway's answer repeats the number.
	mustNotContain(t, "log", logs.String(), "701234567", "meddelande")
	mustNotContain(t, "status", statusOf(t, n, notify.ChannelSMS).LastError, "701234567")

	// Working again: the status clears.
	g.setStatus(http.StatusAccepted)
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 3}, true)
	eventually(t, "the SMS", func() bool { return counter(t, n, "clinicbox_notify_sent_total", "sms") == 1 })
	if st := statusOf(t, n, notify.ChannelSMS); st.LastError != "" || st.LastSent.IsZero() {
		t.Fatalf("status %+v", st)
	}
}

// TestSMSRedirectNotFollowed: a redirect could carry the auth header to
// another host.
func TestSMSRedirectNotFollowed(t *testing.T) {
	other := startGateway(t, false)
	g := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
	}))
	defer g.Close()
	n := startNotifier(t, notify.Config{SMS: &notify.SMSConfig{URL: g.URL + "/?to={to}&text={text}", AuthHeader: "X-Api-Key", AuthValue: "secret"}}, nil, nil)
	notifyOK(t, n, notify.Recipient{UserID: 3, Phone: "0701234567", NotifySMS: true}, notify.Message{Kind: notify.KindMessage, RoomID: 1}, true)
	eventually(t, "the failure", func() bool { return counter(t, n, "clinicbox_notify_failed_total", "sms") == 1 })
	if len(other.requests()) != 0 {
		t.Fatal("the redirect was followed")
	}
	mustContain(t, "status", statusOf(t, n, notify.ChannelSMS).LastError, "302", "redirects are not followed")
}

// TestBadPhoneNumber: a number that is no phone number fails without a
// request, and without showing the number.
func TestBadPhoneNumber(t *testing.T) {
	g := startGateway(t, false)
	log, logs := newLog()
	n := startNotifier(t, notify.Config{SMS: &notify.SMSConfig{URL: g.URL + "/?to={to}&text={text}"}}, log, nil)
	sent, err := n.Notify(t.Context(), notify.Recipient{UserID: 3, Phone: "call me maybe", NotifySMS: true}, notify.Message{Kind: notify.KindMessage, RoomID: 1})
	if sent || err != nil {
		t.Fatalf("Notify: %v %v", sent, err)
	}
	if v := counter(t, n, "clinicbox_notify_failed_total", "sms"); v != 1 {
		t.Fatalf("failed = %v", v)
	}
	if len(g.requests()) != 0 {
		t.Fatal("a request was sent")
	}
	mustNotContain(t, "log", logs.String(), "call me")
	mustContain(t, "log", logs.String(), "phone number cannot be used")
}

// TestBothChannels: e-mail and SMS for one person, one debounce.
func TestBothChannels(t *testing.T) {
	pki := newPKI(t)
	ms := startMailServer(t, serverOpts{tls: pki.tlsConfig(), requireAuth: true})
	g := startGateway(t, false)
	n := startNotifier(t, notify.Config{Email: emailConfig(ms, pki, notify.ModeStartTLS), SMS: &notify.SMSConfig{URL: g.URL + "/?to={to}&text={text}"}}, nil, newClock().Now)
	r := notify.Recipient{UserID: 3, Email: "anna@example.se", Phone: "0701234567", NotifyEmail: true, NotifySMS: true}
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 1}, true)
	notifyOK(t, n, r, notify.Message{Kind: notify.KindMessage, RoomID: 1}, false)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if len(ms.received()) != 1 || len(g.requests()) != 1 {
		t.Fatalf("%d mails, %d SMS", len(ms.received()), len(g.requests()))
	}
	if got := n.Status(); len(got) != 2 || got[0].Channel != notify.ChannelEmail || got[1].Channel != notify.ChannelSMS {
		t.Fatalf("status %+v", got)
	}
	if !strings.HasPrefix(g.requests()[0].Query.Get("text"), "Du har") {
		t.Fatalf("text %q", g.requests()[0].Query.Get("text"))
	}
}
