package web

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"clinicbox/appliance/identity"
	"clinicbox/appliance/rooms"
)

// BenchmarkLiveFanout measures, with CLIENTS (default 500) live
// connections in one room: the time from a message being sent (the HTTP
// handler starts) to its arrival at each client (p50, p99), and the
// server's memory per idle connection. The clients run in a child
// process (this test binary again, as TestLiveClientsProcess), so the
// memory measured here is the server's alone.
//
//	go test -run '^$' -bench LiveFanout -benchtime 1x ./web/
func BenchmarkLiveFanout(b *testing.B) {
	n := 500
	if v, err := strconv.Atoi(os.Getenv("CLIENTS")); err == nil && v > 0 {
		n = v
	}
	const messages = 40
	e := newRoomsEnv(b)
	unit, _ := e.ids.CreateUnit("Bench", identity.UnitStandard)
	host, _ := e.ids.CreateUser(identity.RoleStaff, identity.Profile{Name: "Host", Email: "host@example.se"}, []uint64{unit.ID})
	hostActor := rooms.Actor{ID: host.ID, Role: "staff", Units: []uint64{unit.ID}}
	room, err := e.rooms.Create(hostActor, "Bench room", unit.ID)
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, n)
	for i := range tokens {
		c, _ := e.ids.CreateUser(identity.RoleClient, identity.Profile{Name: fmt.Sprintf("Client %d", i)}, []uint64{unit.ID})
		e.ids.AcceptTerms(c.ID, TermsVersion)
		if err := e.rooms.AddMember(hostActor, room.ID, c.ID, "client", rooms.RoleParticipant); err != nil {
			b.Fatal(err)
		}
		tokens[i], _, _ = e.ids.StartSession(c, true)
	}
	srv := httptest.NewTLSServer(e.srv.Handler())
	defer srv.Close()

	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutinesBefore := runtime.NumGoroutine()
	child := exec.Command(os.Args[0], "-test.run=^TestLiveClientsProcess$")
	child.Env = append(os.Environ(), "CLINICBOX_LIVE_URL=wss"+strings.TrimPrefix(srv.URL, "https")+"/api/v1/live",
		"CLINICBOX_LIVE_MESSAGES="+strconv.Itoa(messages))
	child.Stdin = strings.NewReader(strings.Join(tokens, "\n"))
	var out strings.Builder
	child.Stdout, child.Stderr = &out, os.Stderr
	if err := child.Start(); err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for runtime.NumGoroutine()-goroutinesBefore < 2*n { // every client connected
		if time.Now().After(deadline) {
			b.Fatalf("%d goroutines for %d clients", runtime.NumGoroutine()-goroutinesBefore, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // idle
	runtime.GC()
	var idle runtime.MemStats
	runtime.ReadMemStats(&idle)
	perConn := float64(int64(idle.HeapInuse+idle.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / float64(n)
	goroutinesPerConn := float64(runtime.NumGoroutine()-goroutinesBefore) / float64(n)

	tok, sess, _ := e.ids.StartSession(host, true)
	sentAt := map[uint64]time.Time{}
	b.ResetTimer()
	for i := 0; i < messages; i++ {
		req := httptest.NewRequest("POST", fmt.Sprintf("https://box.test/rooms/%d/messages", room.ID),
			strings.NewReader("text=message+"+strconv.Itoa(i)))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "application/json")
		req.Header.Set("X-CSRF-Token", sess.CSRFToken())
		req.AddCookie(&http.Cookie{Name: SessionCookie, Value: tok})
		rec := httptest.NewRecorder()
		t0 := time.Now()
		e.srv.Handler().ServeHTTP(rec, req)
		var resp struct {
			ID uint64 `json:"id"`
		}
		json.Unmarshal(rec.Body.Bytes(), &resp)
		sentAt[resp.ID] = t0
		time.Sleep(50 * time.Millisecond) // a conversation, not a flood
	}
	if err := child.Wait(); err != nil {
		b.Fatalf("clients: %v", err)
	}
	b.StopTimer()
	// The child prints "ARRIVAL <event id> <unix ns>" per delivery.
	var latencies []time.Duration
	for _, line := range strings.Split(out.String(), "\n") {
		var id uint64
		var ns int64
		if _, err := fmt.Sscanf(line, "ARRIVAL %d %d", &id, &ns); err == nil {
			if t0, ok := sentAt[id]; ok {
				latencies = append(latencies, time.Unix(0, ns).Sub(t0))
			}
		}
	}
	if len(latencies) < n*messages {
		b.Fatalf("only %d of %d deliveries arrived", len(latencies), n*messages)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	p := func(q float64) float64 {
		return float64(latencies[int(q*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(p(0.50), "p50-ms")
	b.ReportMetric(p(0.99), "p99-ms")
	b.ReportMetric(perConn/1024, "server-KiB/conn")
	b.ReportMetric(goroutinesPerConn, "goroutines/conn")
}

// TestLiveClientsProcess is the client side of BenchmarkLiveFanout, in its
// own process: one live connection per session token read from stdin; it
// prints when each message arrives.
func TestLiveClientsProcess(t *testing.T) {
	url := os.Getenv("CLINICBOX_LIVE_URL")
	if url == "" {
		t.Skip("run by BenchmarkLiveFanout")
	}
	messages, _ := strconv.Atoi(os.Getenv("CLINICBOX_LIVE_MESSAGES"))
	raw, _ := io.ReadAll(os.Stdin)
	// The benchmark's test server has its own certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	ctx := context.Background()
	var mu sync.Mutex
	var lines []string
	var wg sync.WaitGroup
	for _, tok := range strings.Fields(string(raw)) {
		ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: client, HTTPHeader: http.Header{"Cookie": {SessionCookie + "=" + tok}}})
		if err != nil {
			t.Fatal(err)
		}
		ws.Write(ctx, websocket.MessageText, []byte(`{"type":"resume","after":1000000000}`))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer ws.CloseNow()
			for got := 0; got < messages; {
				_, data, err := ws.Read(ctx)
				if err != nil {
					return
				}
				at := time.Now().UnixNano()
				var m struct {
					Type  string `json:"type"`
					Event struct {
						ID   uint64 `json:"id"`
						Kind string `json:"kind"`
					} `json:"event"`
				}
				if json.Unmarshal(data, &m) != nil || m.Type != "event" || m.Event.Kind != "message" {
					continue
				}
				mu.Lock()
				lines = append(lines, fmt.Sprintf("ARRIVAL %d %d", m.Event.ID, at))
				mu.Unlock()
				got++
			}
		}()
	}
	wg.Wait()
	fmt.Println(strings.Join(lines, "\n"))
}
