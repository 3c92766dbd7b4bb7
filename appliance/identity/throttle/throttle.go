// Package throttle slows down password guessing: after a few failed
// logins for an account, or from an address, each further attempt must
// wait, and the wait doubles with every failure up to a maximum.
//
// A login handler asks Check with all the keys that apply, typically the
// account and the address ("acct:"+userID, AddressKey(ip)), and refuses
// without looking at the password while the wait is above zero, telling
// the person how long ("try again in 4 minutes"). A wrong password is
// reported with Fail on the same keys, a right one with Succeed on the
// account key only, so that a guesser with one valid account cannot clear
// the address it guesses from.
//
// Keys are opaque strings. For an unknown e-mail address use a key made
// from it too (hashed, so the table holds no addresses in the clear), or
// an attacker could guess freely with addresses that have no account.
//
// State lives in memory only: a restart forgets every count. That is
// accepted: a restart is rare, takes seconds, and an attacker who can
// cause restarts at will has bigger levers. Memory is bounded by
// MaxEntries. When the table is full, a new key first pushes out entries
// older than Forget, then the oldest entry that is not yet delaying
// anyone, and only then the oldest delaying one, so flooding the table
// with fresh addresses or made-up accounts does not easily release an
// account under attack.
package throttle

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// Config tunes a Limiter. Zero durations, MaxEntries and Now take the
// defaults shown by DefaultConfig; Free is taken as it is (0 means every
// failure delays the next attempt).
type Config struct {
	// Free is how many failures a key may have before attempts are delayed.
	Free int
	// Base is the first delay, after Free failures; each further failure
	// doubles it.
	Base time.Duration
	// Max caps the delay.
	Max time.Duration
	// Forget is how long after its last failure a key starts over from
	// zero.
	Forget time.Duration
	// MaxEntries caps the number of keys kept. An entry takes about 150
	// bytes plus its key (170 measured with IPv6 /64 keys).
	MaxEntries int
	// Now is the clock; tests pass a fake one.
	Now func() time.Time
}

// DefaultConfig is five free failures, then 1 s, 2 s, 4 s… up to 15
// minutes; counts forgotten after a day without failures; 20,000 keys
// (a few MiB).
func DefaultConfig() Config {
	return Config{Free: 5, Base: time.Second, Max: 15 * time.Minute, Forget: 24 * time.Hour, MaxEntries: 20_000, Now: time.Now}
}

// Limiter counts failures per key. It is safe for concurrent use.
type Limiter struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]*list.Element
	// cold holds keys with fewer than Free failures, hot the others; each
	// ordered by last failure, most recent at the front.
	cold, hot list.List
}

type entry struct {
	key      string
	failures int
	last     time.Time
	hot      bool
}

// New returns a Limiter with cfg, zero fields filled from DefaultConfig.
func New(cfg Config) *Limiter {
	d := DefaultConfig()
	if cfg.Free < 0 {
		cfg.Free = 0
	}
	if cfg.Base <= 0 {
		cfg.Base = d.Base
	}
	if cfg.Max <= 0 {
		cfg.Max = d.Max
	}
	cfg.Max = max(cfg.Max, cfg.Base)
	if cfg.Forget <= 0 {
		cfg.Forget = d.Forget
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = d.MaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = d.Now
	}
	return &Limiter{cfg: cfg, entries: make(map[string]*list.Element)}
}

// Check returns how long to wait before the next attempt with keys is
// allowed: zero to go ahead, otherwise the longest wait among the keys.
func (l *Limiter) Check(keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	var wait time.Duration
	for _, k := range keys {
		el, ok := l.entries[k]
		if !ok {
			continue
		}
		e := el.Value.(*entry)
		if l.expired(e, now) {
			l.remove(el)
			continue
		}
		if w := e.last.Add(l.delay(e.failures)).Sub(now); w > wait {
			wait = w
		}
	}
	return wait
}

// Fail records a failed attempt for each key.
func (l *Limiter) Fail(keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.cfg.Now()
	for _, k := range keys {
		el, ok := l.entries[k]
		if ok && l.expired(el.Value.(*entry), now) {
			l.remove(el)
			ok = false
		}
		if !ok {
			l.makeRoom(now)
			el = l.cold.PushFront(&entry{key: k})
			l.entries[k] = el
		}
		e := el.Value.(*entry)
		if e.failures < 1<<20 {
			e.failures++
		}
		e.last = now
		switch {
		case !e.hot && e.failures >= l.cfg.Free:
			l.cold.Remove(el)
			e.hot = true
			l.entries[k] = l.hot.PushFront(e)
		case e.hot:
			l.hot.MoveToFront(el)
		default:
			l.cold.MoveToFront(el)
		}
	}
}

// Succeed forgets key's failures. Call it with the account key after a
// right password; leave address keys to expire.
func (l *Limiter) Succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.remove(el)
	}
}

// Len is the number of keys held, for metrics.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.entries)
}

// delay is the wait after n failures: nothing up to Free-1 failures, then
// Base, doubling per failure, capped at Max.
func (l *Limiter) delay(n int) time.Duration {
	if n < l.cfg.Free {
		return 0
	}
	d := l.cfg.Base
	for i := l.cfg.Free; i < n && d < l.cfg.Max; i++ {
		d *= 2
	}
	return min(d, l.cfg.Max)
}

func (l *Limiter) expired(e *entry, now time.Time) bool {
	return now.Sub(e.last) >= l.cfg.Forget
}

func (l *Limiter) remove(el *list.Element) {
	e := el.Value.(*entry)
	if e.hot {
		l.hot.Remove(el)
	} else {
		l.cold.Remove(el)
	}
	delete(l.entries, e.key)
}

// makeRoom frees a slot for one new key if the table is full: expired
// entries first, then the oldest cold one, then the oldest hot one.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.entries) < l.cfg.MaxEntries {
		return
	}
	for _, ls := range []*list.List{&l.cold, &l.hot} {
		for el := ls.Back(); el != nil && l.expired(el.Value.(*entry), now); el = ls.Back() {
			l.remove(el)
		}
	}
	if len(l.entries) < l.cfg.MaxEntries {
		return
	}
	if el := l.cold.Back(); el != nil {
		l.remove(el)
	} else if el := l.hot.Back(); el != nil {
		l.remove(el)
	}
}

// AddressKey is the throttle key for a client address: "ip:" and the
// address as a /32 for IPv4 (IPv4-mapped IPv6 included), or its /64 for
// IPv6, since one subscriber usually holds a whole /64. The zone is
// dropped. An invalid address gets the single key "ip:invalid".
func AddressKey(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("")
	if !ip.IsValid() {
		return "ip:invalid"
	}
	bits := 32
	if ip.Is6() {
		bits = 64
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return "ip:invalid"
	}
	return "ip:" + p.String()
}
