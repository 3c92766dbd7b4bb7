package keystore

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// openT opens a Store in dir and closes it when the test ends.
func openT(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(dir)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func seal(t testing.TB, s *Store, subject, plaintext, aad string) []byte {
	t.Helper()
	ct, err := s.Seal(subject, []byte(plaintext), []byte(aad))
	if err != nil {
		t.Fatalf("Seal(%q): %v", subject, err)
	}
	return ct
}

func mustOpen(t testing.TB, s *Store, subject string, ct []byte, aad, want string) {
	t.Helper()
	pt, err := s.Open(subject, ct, []byte(aad))
	if err != nil {
		t.Fatalf("Open(%q): %v", subject, err)
	}
	if string(pt) != want {
		t.Fatalf("Open(%q) = %q, want %q", subject, pt, want)
	}
}

// keyMaterial is the test hook into a subject's key: copies of the raw
// data key and of its wrapped form as written to subjects.keys, and the
// cache entry itself.
func keyMaterial(t testing.TB, s *Store, subject string) (raw, wrapped []byte, e *entry) {
	t.Helper()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	e = s.keys[subject]
	if e == nil {
		t.Fatalf("no key for %q", subject)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	return bytes.Clone(e.key[:]), bytes.Clone(e.wrapped[:]), e
}

// populate adds n subjects named prefix:0 … prefix:n-1 with one rewrite
// of subjects.keys, instead of n, for benchmarks and large tests.
func populate(tb testing.TB, s *Store, prefix string, n int) {
	tb.Helper()
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	s.mu.Lock()
	for i := range n {
		subject := fmt.Sprintf("%s:%d", prefix, i)
		e := &entry{}
		_, _ = rand.Read(e.key[:])
		var nonce [nonceSize]byte
		_, _ = rand.Read(nonce[:])
		wrapKey(s.mk, subject, e.key[:], nonce[:], e.wrapped[:])
		s.keys[subject] = e
	}
	s.mu.Unlock()
	if err := s.writeLocked("", nil, ""); err != nil {
		tb.Fatal(err)
	}
}

// findInFiles walks root and returns "path contains name" for every
// regular file that contains one of the needles.
func findInFiles(t testing.TB, root string, needles map[string][]byte) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		files++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for name, n := range needles {
			if bytes.Contains(data, n) {
				found = append(found, fmt.Sprintf("%s contains %s", path, name))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files under %s", root)
	}
	return found
}

func TestRoundTrip(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "keys"))
	if !s.Created() {
		t.Error("Created() = false on a new directory")
	}
	big := strings.Repeat("journal entry ", 80000) // ~1 MiB attachment
	for _, tc := range []struct{ name, subject, plaintext, aad string }{
		{"empty", "user:1", "", ""},
		{"message", "room:7", "Hej, vi ses på tisdag kl 10.", "messages/0000000000000001"},
		{"personnummer", "user:42", "19121212-1212", "profile/42/pnr"},
		{"attachment", "room:7", big, "attachments/9"},
		{"binary aad", "user:1", "x", "\x00\xff\x00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := seal(t, s, tc.subject, tc.plaintext, tc.aad)
			if len(ct) != len(tc.plaintext)+sealOverhead {
				t.Errorf("len(ciphertext) = %d, want %d", len(ct), len(tc.plaintext)+sealOverhead)
			}
			if ct[0] != sealVersion {
				t.Errorf("version byte %d, want %d", ct[0], sealVersion)
			}
			if len(tc.plaintext) > 8 && bytes.Contains(ct, []byte(tc.plaintext[:8])) {
				t.Error("ciphertext contains the plaintext")
			}
			mustOpen(t, s, tc.subject, ct, tc.aad, tc.plaintext)
			if ct2 := seal(t, s, tc.subject, tc.plaintext, tc.aad); bytes.Equal(ct, ct2) {
				t.Error("two Seals of the same plaintext are equal: nonce not random")
			}
			if !s.Has(tc.subject) {
				t.Errorf("Has(%q) = false after Seal", tc.subject)
			}
		})
	}
	if n := s.Subjects(); n != 3 {
		t.Errorf("Subjects() = %d, want 3", n)
	}
	if s.Has("user:99") {
		t.Error("Has(user:99) = true for a subject never sealed for")
	}
}

func TestMismatchFails(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "keys"))
	ct := seal(t, s, "user:1", "secret", "messages/1")
	seal(t, s, "user:2", "other", "")
	for _, tc := range []struct {
		name, subject, aad string
		want               error
	}{
		{"other aad", "user:1", "messages/2", ErrDecrypt},
		{"empty aad", "user:1", "", ErrDecrypt},
		{"aad prefix", "user:1", "messages/", ErrDecrypt},
		{"other subject with a key", "user:2", "messages/1", ErrDecrypt},
		{"subject without a key", "user:3", "messages/1", ErrNoKey},
		{"invalid subject", "", "messages/1", ErrNoKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := s.Open(tc.subject, ct, []byte(tc.aad))
			if !errors.Is(err, tc.want) || pt != nil {
				t.Fatalf("Open = %q, %v; want %v", pt, err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "keys: ") {
				t.Errorf("error %q lacks the keys: prefix", err)
			}
		})
	}
}

func TestTamperFails(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "keys"))
	ct := seal(t, s, "user:1", "a short message", "aad")
	// Every single-byte change, anywhere: version, nonce, body, tag.
	for i := range ct {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			bad := bytes.Clone(ct)
			bad[i] ^= x
			if pt, err := s.Open("user:1", bad, []byte("aad")); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("byte %d ^ %#x: Open = %q, %v; want ErrDecrypt", i, x, pt, err)
			}
		}
	}
	// Every truncation, and extensions.
	for n := range len(ct) {
		if _, err := s.Open("user:1", ct[:n], []byte("aad")); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("truncated to %d bytes: %v; want ErrDecrypt", n, err)
		}
	}
	for _, bad := range [][]byte{append(bytes.Clone(ct), 0), append(bytes.Clone(ct), ct...)} {
		if _, err := s.Open("user:1", bad, []byte("aad")); !errors.Is(err, ErrDecrypt) {
			t.Fatalf("extended to %d bytes: %v; want ErrDecrypt", len(bad), err)
		}
	}
	mustOpen(t, s, "user:1", ct, "aad", "a short message")
}

func TestPersistence(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cts := map[string][]byte{}
	for i := range 20 {
		subject := fmt.Sprintf("user:%d", i)
		cts[subject] = seal(t, s, subject, "hello "+subject, subject)
	}
	if err := s.Erase("user:3"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, f := range []struct {
		name string
		perm fs.FileMode
	}{{"", 0o700}, {masterName, 0o600}, {subjectsName, 0o600}} {
		fi, err := os.Stat(filepath.Join(dir, f.name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != f.perm {
			t.Errorf("%s has mode %04o, want %04o", filepath.Join(dir, f.name), fi.Mode().Perm(), f.perm)
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, masterName)); fi.Size() != keySize {
		t.Errorf("master.key is %d bytes", fi.Size())
	}
	master, _ := os.ReadFile(filepath.Join(dir, masterName))

	s2 := openT(t, dir)
	if s2.Created() {
		t.Error("Created() = true on reopen")
	}
	if n := s2.Subjects(); n != 19 {
		t.Errorf("Subjects() = %d after reopen, want 19", n)
	}
	for subject, ct := range cts {
		if subject == "user:3" {
			if _, err := s2.Open(subject, ct, []byte(subject)); !errors.Is(err, ErrNoKey) {
				t.Errorf("erased user:3 after reopen: %v; want ErrNoKey", err)
			}
			continue
		}
		mustOpen(t, s2, subject, ct, subject, "hello "+subject)
	}
	if now, _ := os.ReadFile(filepath.Join(dir, masterName)); !bytes.Equal(now, master) {
		t.Error("master.key changed on reopen")
	}
}

// TestSealIsDurable: when Seal returns for a new subject, its key is in
// subjects.keys on disk, authenticated.
func TestSealIsDurable(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s := openT(t, dir)
	for i := range 5 {
		subject := fmt.Sprintf("room:%d", i)
		seal(t, s, subject, "x", "")
		data, err := os.ReadFile(filepath.Join(dir, subjectsName))
		if err != nil {
			t.Fatal(err)
		}
		l, err := parseLayout(data)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := l.authenticate(s.mk); !ok {
			t.Fatal("subjects.keys does not authenticate")
		}
		_, wrapped, _ := keyMaterial(t, s, subject)
		var found bool
		for _, fe := range l.entries {
			found = found || (fe.subject == subject && bytes.Equal(fe.wrapped, wrapped))
		}
		if !found || len(l.entries) != i+1 {
			t.Fatalf("after Seal(%s): file has %d entries, new key present: %v", subject, len(l.entries), found)
		}
	}
}

func TestMasterKeyRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		perm  fs.FileMode
		size  int
		want  string
		other bool // a valid key, but not the one that wrote subjects.keys
	}{
		{name: "group readable", perm: 0o640, size: 32, want: "mode 0640"},
		{name: "world readable", perm: 0o604, size: 32, want: "mode 0604"},
		{name: "group writable", perm: 0o620, size: 32, want: "mode 0620"},
		{name: "everyone", perm: 0o666, size: 32, want: "mode 0666"},
		{name: "empty", perm: 0o600, size: 0, want: "is 0 bytes, want 32"},
		{name: "short", perm: 0o600, size: 31, want: "is 31 bytes, want 32"},
		{name: "long", perm: 0o600, size: 33, want: "is 33 bytes, want 32"},
		{name: "another box's key", perm: 0o600, size: 32, other: true, want: "another master key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "keys")
			s, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			seal(t, s, "user:1", "x", "")
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, masterName)
			orig, _ := os.ReadFile(path)
			key := make([]byte, tc.size)
			copy(key, orig)
			if tc.other {
				_, _ = rand.Read(key)
			}
			if err := os.WriteFile(path, key, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.perm); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(filepath.Join(dir, subjectsName))

			s, err = Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("Open accepted the master key")
			}
			if !errors.Is(err, ErrMasterKey) {
				t.Errorf("error %v does not match ErrMasterKey", err)
			}
			if !strings.HasPrefix(err.Error(), "keys: ") || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q should start with keys:, name %s and say %q", err, path, tc.want)
			}
			if after, _ := os.ReadFile(filepath.Join(dir, subjectsName)); !bytes.Equal(before, after) {
				t.Error("a refused Open changed subjects.keys")
			}
		})
	}
}

func TestMissingFiles(t *testing.T) {
	newStore := func(t *testing.T, subjects int) string {
		dir := filepath.Join(t.TempDir(), "keys")
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		for i := range subjects {
			seal(t, s, fmt.Sprintf("user:%d", i), "x", "")
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		return dir
	}

	t.Run("master.key missing, keys exist", func(t *testing.T) {
		dir := newStore(t, 2)
		if err := os.Remove(filepath.Join(dir, masterName)); err != nil {
			t.Fatal(err)
		}
		before, _ := os.ReadFile(filepath.Join(dir, subjectsName))
		_, err := Open(dir)
		if !errors.Is(err, ErrMasterKey) || !strings.Contains(err.Error(), "holds 2 keys") {
			t.Fatalf("Open = %v; want ErrMasterKey saying it holds 2 keys", err)
		}
		if _, serr := os.Stat(filepath.Join(dir, masterName)); !errors.Is(serr, fs.ErrNotExist) {
			t.Error("a new master.key was made although keys would be orphaned")
		}
		if after, _ := os.ReadFile(filepath.Join(dir, subjectsName)); !bytes.Equal(before, after) {
			t.Error("subjects.keys was changed")
		}
	})

	t.Run("master.key missing, no keys (first start cut short)", func(t *testing.T) {
		dir := newStore(t, 0)
		if err := os.Remove(filepath.Join(dir, masterName)); err != nil {
			t.Fatal(err)
		}
		s := openT(t, dir)
		if !s.Created() {
			t.Error("Created() = false")
		}
		ct := seal(t, s, "user:1", "x", "")
		mustOpen(t, s, "user:1", ct, "", "x")
	})

	t.Run("subjects.keys missing", func(t *testing.T) {
		dir := newStore(t, 1)
		if err := os.Remove(filepath.Join(dir, subjectsName)); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir)
		if !errors.Is(err, ErrDamaged) || !strings.Contains(err.Error(), "restore it from a backup") {
			t.Fatalf("Open = %v; want ErrDamaged asking for a restore", err)
		}
		if _, serr := os.Stat(filepath.Join(dir, subjectsName)); !errors.Is(serr, fs.ErrNotExist) {
			t.Error("an empty subjects.keys was made in place of the missing one")
		}
	})

	t.Run("directory open to others", func(t *testing.T) {
		dir := newStore(t, 0)
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir)
		if err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "chmod 700") {
			t.Fatalf("Open = %v; want a refusal naming %s", err, dir)
		}
	})
}

func TestDamagedKeyStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seal(t, s, fmt.Sprintf("user:%d", i), "x", "")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, subjectsName)
	good, _ := os.ReadFile(path)
	fpStart, fpEnd := len(fileMagic)+1, len(fileMagic)+1+fingerprintLen

	try := func(t *testing.T, name string, data []byte, want error) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open accepted a damaged subjects.keys", name)
		}
		if !errors.Is(err, want) {
			t.Fatalf("%s: Open = %v; want %v", name, err, want)
		}
		if want == ErrDamaged && (!strings.Contains(err.Error(), "keys: subjects.keys is damaged") ||
			!strings.Contains(err.Error(), "restore it from a backup") || !strings.Contains(err.Error(), path)) {
			t.Fatalf("%s: error %q is not the clear one", name, err)
		}
		if now, _ := os.ReadFile(path); !bytes.Equal(now, data) {
			t.Fatalf("%s: a refused Open changed the file", name)
		}
	}

	for _, n := range []int{0, 1, 7, headerLen, headerLen + macLen - 1, len(good) / 2, len(good) - macLen, len(good) - 1} {
		try(t, fmt.Sprintf("truncated to %d", n), good[:n], ErrDamaged)
	}
	try(t, "trailing byte", append(bytes.Clone(good), 0), ErrDamaged)
	try(t, "doubled", append(bytes.Clone(good), good...), ErrDamaged)
	try(t, "text", []byte("{\"keys\":[]}\n"), ErrDamaged)
	// Every single-byte change. A changed fingerprint cannot be told from
	// a wrong master.key; everything else is damage.
	for i := range good {
		bad := bytes.Clone(good)
		bad[i] ^= 0x20
		want := ErrDamaged
		if i >= fpStart && i < fpEnd {
			want = ErrMasterKey
		}
		try(t, fmt.Sprintf("byte %d changed", i), bad, want)
	}
	// A count that promises more keys than the file holds, with a valid MAC:
	// the layout check alone must refuse it.
	bad := bytes.Clone(good[:len(good)-macLen])
	binary.BigEndian.PutUint32(bad[headerLen-4:], 1<<31)
	try(t, "huge count", bad, ErrDamaged)

	if err := os.WriteFile(path, good, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir)
	if n := s.Subjects(); n != 3 {
		t.Errorf("restored file: %d subjects, want 3", n)
	}
}

// TestEraseShreds is the privacy guarantee: after Erase, the subject's
// data is unreadable and neither its data key nor its wrapped key is in
// any file under the data directory, which also holds a real bbolt
// database of ciphertexts, as the appliance's does.
func TestEraseShreds(t *testing.T) {
	data := t.TempDir()
	keysDir := filepath.Join(data, "keys")
	db := openBolt(t, filepath.Join(data, "clinicbox.db"))
	s, err := Open(keysDir)
	if err != nil {
		t.Fatal(err)
	}

	mark := make([]byte, 12)
	_, _ = rand.Read(mark)
	marker := "MARKER-" + hex.EncodeToString(mark)
	type rec struct {
		subject, aad, plaintext string
		ct                      []byte
	}
	var recs []rec
	for _, subject := range []string{"user:1", "user:2", "room:7"} {
		for i := range 40 {
			r := rec{subject: subject, aad: fmt.Sprintf("messages/%s/%d", subject, i),
				plaintext: fmt.Sprintf("%s %s message %d, personnummer 19121212-1212", marker, subject, i)}
			r.ct = seal(t, s, subject, r.plaintext, r.aad)
			db.put(t, r.aad, r.ct)
			recs = append(recs, r)
		}
	}
	raw, wrapped, e := keyMaterial(t, s, "user:1")
	_, _, e2 := keyMaterial(t, s, "user:2")

	// The scan sees what it should: the wrapped key in subjects.keys, the
	// ciphertexts in the database; never the raw key or the plaintext.
	if got := findInFiles(t, data, map[string][]byte{"wrapped key": wrapped}); len(got) != 1 || !strings.Contains(got[0], subjectsName) {
		t.Fatalf("before Erase, the wrapped key should be in subjects.keys only: %v", got)
	}
	if got := findInFiles(t, data, map[string][]byte{"ciphertext": recs[0].ct}); len(got) != 1 {
		t.Fatalf("the scan does not see the database's ciphertexts: %v", got)
	}
	needles := map[string][]byte{"raw key": raw, "marker": []byte(marker)}
	if got := findInFiles(t, data, needles); len(got) != 0 {
		t.Fatalf("before Erase: %v", got)
	}

	if err := s.Erase("user:1"); err != nil {
		t.Fatal(err)
	}
	if e.key != [keySize]byte{} || e.wrapped != [wrappedLen]byte{} || !e.erased {
		t.Error("Erase left the cached key in memory")
	}
	if e2.key == [keySize]byte{} {
		t.Error("Erase zeroed another subject's key")
	}
	check := func(t *testing.T, s *Store) {
		t.Helper()
		for _, r := range recs {
			ct := db.get(t, r.aad)
			if r.subject == "user:1" {
				if pt, err := s.Open(r.subject, ct, []byte(r.aad)); !errors.Is(err, ErrNoKey) || pt != nil {
					t.Fatalf("Open of erased %s = %q, %v; want ErrNoKey", r.aad, pt, err)
				}
				continue
			}
			mustOpen(t, s, r.subject, ct, r.aad, r.plaintext)
		}
		if s.Has("user:1") || s.Subjects() != 2 {
			t.Fatalf("Has(user:1) = %v, Subjects() = %d; want false, 2", s.Has("user:1"), s.Subjects())
		}
		needles["wrapped key"] = wrapped
		if got := findInFiles(t, data, needles); len(got) != 0 {
			t.Fatalf("after Erase: %v", got)
		}
	}
	check(t, s)
	if err := s.Erase("user:1"); err != nil {
		t.Fatalf("second Erase: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db.close(t)
	// The erased ciphertexts are still in the database file: erasure did
	// not need to touch it.
	if got := findInFiles(t, data, map[string][]byte{"ciphertext": recs[0].ct}); len(got) != 1 {
		t.Fatalf("the erased subject's ciphertext should remain, unreadable: %v", got)
	}

	db = openBolt(t, filepath.Join(data, "clinicbox.db"))
	defer db.close(t)
	check(t, openT(t, keysDir))
}

func TestEraseThenSealMakesNewKey(t *testing.T) {
	s := openT(t, filepath.Join(t.TempDir(), "keys"))
	old := seal(t, s, "room:7", "before", "")
	rawOld, _, _ := keyMaterial(t, s, "room:7")
	if err := s.Erase("room:7"); err != nil {
		t.Fatal(err)
	}
	if err := s.Erase("room:7"); err != nil {
		t.Fatalf("Erase is not idempotent: %v", err)
	}
	if err := s.Erase("never:sealed"); err != nil {
		t.Fatalf("Erase of an unknown subject: %v", err)
	}
	ct := seal(t, s, "room:7", "after", "")
	rawNew, _, _ := keyMaterial(t, s, "room:7")
	if bytes.Equal(rawOld, rawNew) {
		t.Fatal("a new key equals the erased one")
	}
	mustOpen(t, s, "room:7", ct, "", "after")
	if _, err := s.Open("room:7", old, nil); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("data under the erased key: %v; want ErrDecrypt (documented)", err)
	}
}

func TestSubjectIDs(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s := openT(t, dir)
	long := strings.Repeat("r", maxSubjectLen)
	for _, bad := range []string{"", long + "x", "user:\xff"} {
		if _, err := s.Seal(bad, []byte("x"), nil); err == nil || !strings.HasPrefix(err.Error(), "keys: ") {
			t.Errorf("Seal(%q) = %v; want a keys: error", bad, err)
		}
		if err := s.Erase(bad); err == nil {
			t.Errorf("Erase(%q) accepted an invalid id", bad)
		}
	}
	for _, good := range []string{"u", long, "user:åäö", "room:7"} {
		if !utf8.ValidString(good) {
			t.Fatal("bad test id")
		}
		seal(t, s, good, "x", "")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openT(t, dir)
	if !s2.Has(long) || !s2.Has("user:åäö") || s2.Subjects() != 4 {
		t.Fatalf("after reopen: %d subjects", s2.Subjects())
	}
}

func TestLeftoversRemoved(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What a crash in the middle of a rewrite leaves: a temporary copy
	// that may hold a key erased since.
	left := []string{"." + subjectsName + tmpInfix + "123", "." + masterName + tmpInfix + "9"}
	for _, n := range left {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old wrapped key"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keep := filepath.Join(dir, "README")
	if err := os.WriteFile(keep, []byte("operator's note"), 0o600); err != nil {
		t.Fatal(err)
	}
	openT(t, dir)
	for _, n := range left {
		if _, err := os.Stat(filepath.Join(dir, n)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("leftover %s is still there", n)
		}
	}
	if _, err := os.Stat(keep); err != nil {
		t.Errorf("Open removed a file it does not own: %v", err)
	}
}

func TestClosed(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	ct := seal(t, s, "user:1", "x", "")
	_, _, e := keyMaterial(t, s, "user:1")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if e.key != [keySize]byte{} {
		t.Error("Close left a key in memory")
	}
	if _, err := s.Seal("user:1", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal after Close: %v", err)
	}
	if _, err := s.Seal("user:2", nil, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Seal of a new subject after Close: %v", err)
	}
	if _, err := s.Open("user:1", ct, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	if err := s.Erase("user:1"); !errors.Is(err, ErrClosed) {
		t.Errorf("Erase after Close: %v", err)
	}
	if err := s.Backup(&bytes.Buffer{}); !errors.Is(err, ErrClosed) {
		t.Errorf("Backup after Close: %v", err)
	}
	if s.Has("user:1") || s.Subjects() != 0 {
		t.Error("Has/Subjects after Close")
	}
	s2 := openT(t, dir) // the lock was released
	mustOpen(t, s2, "user:1", ct, "", "x")
}

func TestBackup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s := openT(t, dir)
	ct1 := seal(t, s, "user:1", "one", "")
	ct2 := seal(t, s, "user:2", "two", "")
	_, wrapped1, _ := keyMaterial(t, s, "user:1")
	var before bytes.Buffer
	if err := s.Backup(&before); err != nil {
		t.Fatal(err)
	}
	if onDisk, _ := os.ReadFile(filepath.Join(dir, subjectsName)); !bytes.Equal(before.Bytes(), onDisk) {
		t.Error("Backup differs from subjects.keys")
	}
	if err := s.Erase("user:1"); err != nil {
		t.Fatal(err)
	}
	var after bytes.Buffer
	if err := s.Backup(&after); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(after.Bytes(), wrapped1) {
		t.Error("a backup taken after Erase holds the erased key")
	}
	// The documented limit: a backup from before the erasure still holds
	// the key, and with master.key it still decrypts the subject's data.
	if !bytes.Contains(before.Bytes(), wrapped1) {
		t.Error("the backup from before Erase should hold the key")
	}
	master, _ := os.ReadFile(filepath.Join(dir, masterName))
	restore := func(backup []byte) *Store {
		rdir := filepath.Join(t.TempDir(), "keys")
		if err := os.Mkdir(rdir, 0o700); err != nil {
			t.Fatal(err)
		}
		_ = os.WriteFile(filepath.Join(rdir, masterName), master, 0o600)
		_ = os.WriteFile(filepath.Join(rdir, subjectsName), backup, 0o600)
		return openT(t, rdir)
	}
	old := restore(before.Bytes())
	mustOpen(t, old, "user:1", ct1, "", "one")
	recent := restore(after.Bytes())
	mustOpen(t, recent, "user:2", ct2, "", "two")
	if _, err := recent.Open("user:1", ct1, nil); !errors.Is(err, ErrNoKey) {
		t.Errorf("restored recent backup: %v; want ErrNoKey", err)
	}
}

func TestDeriveKey(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.DeriveKey("email-index")
	b, _ := s.DeriveKey("other")
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatal("purposes must give different 32-byte keys")
	}
	s.Close()
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again, _ := s.DeriveKey("email-index")
	if !bytes.Equal(a, again) {
		t.Fatal("a derived key must survive a restart")
	}
	if _, err := s.DeriveKey(""); err == nil {
		t.Fatal("an empty purpose must be refused")
	}
}
