package throttle

import (
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTest(maxEntries int) (*Limiter, *clock) {
	c := &clock{t: time.Date(2026, 3, 15, 10, 0, 0, 0, time.UTC)}
	cfg := DefaultConfig()
	cfg.Now = c.Now
	cfg.MaxEntries = maxEntries
	return New(cfg), c
}

func TestGrowingDelay(t *testing.T) {
	l, _ := newTest(100)
	want := []time.Duration{
		0, 0, 0, 0, // failures 1-4
		time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, // 5-9
		32 * time.Second, 64 * time.Second, 128 * time.Second, 256 * time.Second, 512 * time.Second, // 10-14
		15 * time.Minute, 15 * time.Minute, 15 * time.Minute, // capped
	}
	for i, w := range want {
		l.Fail("acct:1")
		if got := l.Check("acct:1"); got != w {
			t.Errorf("after %d failures: wait %v, want %v", i+1, got, w)
		}
	}
	for range 1000 {
		l.Fail("acct:1")
	}
	if got := l.Check("acct:1"); got != 15*time.Minute {
		t.Errorf("after many failures: %v", got)
	}
}

func TestWaitCountsDown(t *testing.T) {
	l, c := newTest(100)
	for range 7 {
		l.Fail("acct:1")
	}
	if got := l.Check("acct:1"); got != 4*time.Second {
		t.Fatalf("wait %v", got)
	}
	c.Advance(3 * time.Second)
	if got := l.Check("acct:1"); got != time.Second {
		t.Fatalf("after 3 s: wait %v", got)
	}
	c.Advance(time.Second)
	if got := l.Check("acct:1"); got != 0 {
		t.Fatalf("after 4 s: wait %v", got)
	}
	// The count is kept: the next failure waits twice as long.
	l.Fail("acct:1")
	if got := l.Check("acct:1"); got != 8*time.Second {
		t.Fatalf("next failure: wait %v", got)
	}
}

func TestForget(t *testing.T) {
	l, c := newTest(100)
	for range 10 {
		l.Fail("acct:1")
	}
	c.Advance(24*time.Hour - time.Second)
	if got := l.Check("acct:1"); got != 0 {
		t.Fatalf("wait %v after the delay", got)
	}
	l.Fail("acct:1") // still within Forget: count goes on
	if got := l.Check("acct:1"); got != 64*time.Second {
		t.Fatalf("wait %v, want 64s (11 failures)", got)
	}
	c.Advance(24 * time.Hour)
	if got := l.Check("acct:1"); got != 0 || l.Len() != 0 {
		t.Fatalf("after Forget: wait %v, len %d", got, l.Len())
	}
	for range 5 {
		l.Fail("acct:1")
	}
	if got := l.Check("acct:1"); got != time.Second {
		t.Fatalf("count did not start over: wait %v", got)
	}
}

func TestKeys(t *testing.T) {
	l, _ := newTest(100)
	for range 6 {
		l.Fail("acct:1", "ip:203.0.113.7/32")
	}
	for range 3 {
		l.Fail("ip:203.0.113.7/32")
	}
	tests := []struct {
		keys []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"acct:2"}, 0},
		{[]string{"acct:1"}, 2 * time.Second},
		{[]string{"ip:203.0.113.7/32"}, 16 * time.Second},
		{[]string{"acct:1", "ip:203.0.113.7/32"}, 16 * time.Second},
		{[]string{"acct:2", "acct:1"}, 2 * time.Second},
	}
	for _, tt := range tests {
		if got := l.Check(tt.keys...); got != tt.want {
			t.Errorf("Check(%q) = %v, want %v", tt.keys, got, tt.want)
		}
	}
	// A right password clears the account, not the address.
	l.Succeed("acct:1")
	if got := l.Check("acct:1"); got != 0 {
		t.Errorf("after Succeed: %v", got)
	}
	if got := l.Check("ip:203.0.113.7/32"); got != 16*time.Second {
		t.Errorf("address after Succeed: %v", got)
	}
	l.Succeed("unknown") // no panic
}

func TestConfigDefaults(t *testing.T) {
	l := New(Config{Free: -3, Base: time.Minute, Max: time.Second})
	c := l.cfg
	if c.Free != 0 || c.Base != time.Minute || c.Max != time.Minute || c.Forget != 24*time.Hour || c.MaxEntries != 20_000 || c.Now == nil {
		t.Errorf("config %+v", c)
	}
	// Free 0: the first failure delays.
	l.Fail("k")
	if w := l.Check("k"); w <= 0 || w > time.Minute {
		t.Errorf("wait %v", w)
	}
}

func TestBounded(t *testing.T) {
	l, c := newTest(10)
	// An account under attack: hot.
	for range 8 {
		l.Fail("acct:victim")
	}
	// Some other account with a couple of failures: cold.
	l.Fail("acct:other")
	// A flood of fresh keys.
	for i := range 1000 {
		c.Advance(time.Millisecond)
		l.Fail(fmt.Sprintf("ip:flood-%d", i))
		if l.Len() > 10 {
			t.Fatalf("len %d", l.Len())
		}
	}
	if got := l.Check("acct:victim"); got == 0 {
		t.Error("the flood released the account under attack")
	}
	if got := l.Check("ip:flood-999"); got != 0 || l.Len() != 10 {
		t.Errorf("len %d", l.Len())
	}
	if _, ok := l.entries["acct:other"]; ok {
		t.Error("the oldest cold key was kept")
	}

	// Once only hot keys are left, the oldest of them goes.
	l2, c2 := newTest(3)
	for _, k := range []string{"a", "b", "c", "d"} {
		for range 5 {
			l2.Fail(k)
		}
		c2.Advance(time.Second)
	}
	if _, ok := l2.entries["a"]; ok || l2.Len() != 3 {
		t.Errorf("len %d, a kept: %v", l2.Len(), ok)
	}

	// Expired keys go before anything else.
	l3, c3 := newTest(2)
	l3.Fail("old")
	c3.Advance(25 * time.Hour)
	for range 5 {
		l3.Fail("hot")
	}
	l3.Fail("new")
	if _, ok := l3.entries["hot"]; !ok || l3.Len() != 2 {
		t.Errorf("hot key evicted before an expired one")
	}
	for _, ls := range []struct {
		name string
		n    int
	}{{"cold", l3.cold.Len()}, {"hot", l3.hot.Len()}} {
		if ls.n != 1 {
			t.Errorf("%s list has %d", ls.name, ls.n)
		}
	}
}

func TestConcurrent(t *testing.T) {
	l, c := newTest(50)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("k%d", (g*7+i)%80)
				l.Check(k, "shared")
				l.Fail(k, "shared")
				if i%50 == 0 {
					l.Succeed(k)
					c.Advance(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := l.Len(); n > 50 || n != l.cold.Len()+l.hot.Len() {
		t.Errorf("len %d, lists %d+%d", n, l.cold.Len(), l.hot.Len())
	}
}

func TestAddressKey(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"203.0.113.7", "ip:203.0.113.7/32"},
		{"::ffff:203.0.113.7", "ip:203.0.113.7/32"},
		{"2001:db8:1:2:3:4:5:6", "ip:2001:db8:1:2::/64"},
		{"2001:db8:1:2::ffff", "ip:2001:db8:1:2::/64"},
		{"fe80::1%eth0", "ip:fe80::/64"},
		{"::1", "ip:::/64"},
	}
	for _, tt := range tests {
		if got := AddressKey(netip.MustParseAddr(tt.in)); got != tt.want {
			t.Errorf("AddressKey(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := AddressKey(netip.Addr{}); got != "ip:invalid" {
		t.Errorf("zero Addr: %q", got)
	}
}

func BenchmarkFailCheck(b *testing.B) {
	l := New(DefaultConfig())
	i := 0
	for b.Loop() {
		k := fmt.Sprintf("ip:%d", i%50_000)
		l.Check("acct:x", k)
		l.Fail("acct:x", k)
		i++
	}
}

func FuzzAddressKey(f *testing.F) {
	f.Add([]byte{203, 0, 113, 7}, byte(0))
	f.Add(netip.MustParseAddr("2001:db8::1").AsSlice(), byte(200))
	f.Fuzz(func(t *testing.T, b []byte, low byte) {
		ip, ok := netip.AddrFromSlice(b)
		if !ok {
			return
		}
		k := AddressKey(ip)
		// Another address in the same /64 (IPv6) has the same key; an
		// IPv4 address keeps its own.
		b2 := ip.Unmap().AsSlice()
		b2[len(b2)-1] ^= low
		k2 := AddressKey(netip.AddrFrom16([16]byte(append(make([]byte, 16-len(b2)), b2...))))
		if ip.Unmap().Is6() && k != k2 {
			t.Fatalf("%v: %q and %q", ip, k, k2)
		}
		if ip.Unmap().Is4() {
			mapped := netip.AddrFrom16(ip.Unmap().As16())
			if AddressKey(mapped) != k {
				t.Fatalf("%v: mapped form has another key", ip)
			}
			if low != 0 && AddressKey(netip.AddrFrom4([4]byte(b2))) == k {
				t.Fatalf("%v: two IPv4 addresses share %q", ip, k)
			}
		}
	})
}
