package attachments

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	_ "image/jpeg"
	_ "image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"clinicbox/storage/keystore"
)

const marker = "QZX-MARKER-59.3293N-18.0686E-7f3a"

// samePixels fails unless a and b decode to the same picture.
func samePixels(t *testing.T, a, b []byte) {
	t.Helper()
	ia, fa, err := image.Decode(bytes.NewReader(a))
	if err != nil {
		t.Fatalf("original does not decode: %v", err)
	}
	ib, fb, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("stored picture does not decode: %v", err)
	}
	if fa != fb || ia.Bounds() != ib.Bounds() {
		t.Fatalf("decoded as %s %v, want %s %v", fb, ib.Bounds(), fa, ia.Bounds())
	}
	r := ia.Bounds()
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if ia.At(x, y) != ib.At(x, y) {
				t.Fatalf("pixel %d,%d differs", x, y)
			}
		}
	}
}

func TestPicturesLoseTheirMetadata(t *testing.T) {
	e := newEnv(t, 0)
	jpg, jpgPlain := jpegWithMetadata(t, marker, 0)
	pngb, pngPlain := pngWithMetadata(t, marker)
	gifb, gifPlain := gifWithMetadata(t, marker)
	for _, tc := range []struct {
		name, typ, wantName string
		in, plain           []byte
		gone                []string
	}{
		{"IMG_0001.JPG", "image/jpeg", "IMG_0001.JPG", jpg, jpgPlain, []string{"Exif", "http://ns.adobe.com", "Photoshop", "MPF"}},
		{"karta.png", "image/png", "karta.png", pngb, pngPlain, []string{"tEXt", "iTXt", "eXIf", "tIME", "prVt"}},
		{"anim.gif", "image/gif", "anim.gif", gifb, gifPlain, []string{"XMP DataXMP"}},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			if !bytes.Contains(tc.in, []byte(marker)) {
				t.Fatal("test picture lacks the marker")
			}
			m, err := e.store.Put("room:1", bytes.NewReader(tc.in), tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if m.Type != tc.typ || m.Name != tc.wantName || len(m.ID) != 32 {
				t.Fatalf("meta %+v", m)
			}
			got, meta := e.get(t, "room:1", m.ID)
			if meta != m || int64(len(got)) != m.Size {
				t.Fatalf("Open's meta %+v, Put's %+v, %d bytes read", meta, m, len(got))
			}
			for _, s := range append(tc.gone, marker) {
				if bytes.Contains(got, []byte(s)) {
					t.Errorf("stored picture still holds %q", s)
				}
			}
			samePixels(t, tc.plain, got)
		})
	}
	// GIF animation: both frames and the loop survive.
	got, _ := e.get(t, "room:1", mustPut(t, e, gifb, "a.gif").ID)
	g, err := gif.DecodeAll(bytes.NewReader(got))
	if err != nil || len(g.Image) != 2 || g.LoopCount != 0 {
		t.Fatalf("animation: %v frames=%d loop=%d", err, len(g.Image), g.LoopCount)
	}
	noPlaintext(t, e.data, marker)
}

func mustPut(t testing.TB, e *env, b []byte, name string) Meta {
	t.Helper()
	m, err := e.store.Put("room:1", bytes.NewReader(b), name)
	if err != nil {
		t.Fatalf("Put %s: %v", name, err)
	}
	return m
}

// TestJPEGOrientationKept: a turned phone photo keeps its orientation
// (and nothing else of its Exif), so it does not show sideways.
func TestJPEGOrientationKept(t *testing.T) {
	e := newEnv(t, 0)
	in, plain := jpegWithMetadata(t, marker, 6)
	got, _ := e.get(t, "room:1", mustPut(t, e, in, "p.jpg").ID)
	if bytes.Contains(got, []byte(marker)) || bytes.Contains(got, []byte("GPS")) {
		t.Fatal("metadata left")
	}
	seg := orientationSegment(6)
	if !bytes.Contains(got, seg) {
		t.Fatal("orientation segment missing")
	}
	if bytes.Count(got, []byte("Exif\x00\x00")) != 1 {
		t.Fatal("want exactly one, minimal, Exif segment")
	}
	if o := exifOrientation(seg[4:]); o != 6 {
		t.Fatalf("orientation %d", o)
	}
	samePixels(t, plain, got)
}

func TestWebPLosesItsMetadata(t *testing.T) {
	e := newEnv(t, 0)
	in := webpWithMetadata(marker)
	m := mustPut(t, e, in, "bild.webp")
	got, _ := e.get(t, "room:1", m.ID)
	want := riff(riffChunk("VP8X", make([]byte, 10)), riffChunk("VP8L", vp8l1x1))
	if !bytes.Equal(got, want) || m.Type != "image/webp" {
		t.Fatalf("got %q (%s)\nwant %q", got, m.Type, want)
	}
}

func TestDocumentsStoredUnchanged(t *testing.T) {
	e := newEnv(t, 0)
	docx := ooxml(t, "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word", nil)
	xlsx := ooxml(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml", "xl", nil)
	pptx := ooxml(t, "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml", "ppt", nil)
	for _, tc := range []struct {
		name, wantName, typ string
		in                  []byte
	}{
		{"remiss.pdf", "remiss.pdf", "application/pdf", pdfLike(300<<10, marker)},
		{"scan.jpg", "scan.pdf", "application/pdf", pdfLike(1000, marker)}, // the name lies: the content decides
		{"brev.docx", "brev.docx", fmtDOCX.mime, docx},
		{"brev", "brev.docx", fmtDOCX.mime, docx},
		{"budget.xlsx", "budget.xlsx", fmtXLSX.mime, xlsx},
		{"bilder.pptx", "bilder.pptx", fmtPPTX.mime, pptx},
		{"text.odt", "text.odt", fmtODT.mime, odf(t, fmtODT.mime)},
		{"calc.ods", "calc.ods", fmtODS.mime, odf(t, fmtODS.mime)},
		{"show.zip", "show.odp", fmtODP.mime, odf(t, fmtODP.mime)},
		{"old.doc", "old.doc", "application/msword", cfb(t, cfbEntry{"WordDocument", fill(9000, "w")}, cfbEntry{"1Table", fill(4096, "t")})},
		{"old.xls", "old.xls", "application/vnd.ms-excel", cfb(t, cfbEntry{"Workbook", fill(5000, "x")})},
		{"old.doc", "old.ppt", "application/vnd.ms-powerpoint", cfb(t, cfbEntry{"Current User", fill(4096, "u")}, cfbEntry{"PowerPoint Document", fill(5000, "p")})},
	} {
		t.Run(tc.name+"→"+tc.wantName, func(t *testing.T) {
			m := mustPut(t, e, tc.in, tc.name)
			if m.Type != tc.typ || m.Name != tc.wantName || m.Size != int64(len(tc.in)) {
				t.Fatalf("meta %+v", m)
			}
			got, _ := e.get(t, "room:1", m.ID)
			if !bytes.Equal(got, tc.in) {
				t.Fatal("content changed")
			}
		})
	}
	noPlaintext(t, e.data, marker)
}

func TestRefusedTypes(t *testing.T) {
	e := newEnv(t, 0)
	var plainZip bytes.Buffer
	{
		zw := newZip(&plainZip)
		zw("notes.txt", "hello")
		zw("", "")
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		reason Reason
	}{
		{"report.pdf", append([]byte("MZ\x90\x00\x03\x00\x00\x00"), fill(5000, "\x00PE")...), ReasonProgram},
		{"x.jpg", []byte("\x7FELF\x02\x01\x01\x00"), ReasonProgram},
		{"run.pdf", []byte("#!/bin/sh\nrm -rf /\n"), ReasonProgram},
		{"a.docx", plainZip.Bytes(), ReasonArchive},
		{"a.gz", []byte("\x1F\x8B\x08\x00\x00\x00\x00\x00"), ReasonArchive},
		{"a.jpg", []byte("Rar!\x1A\x07\x01\x00"), ReasonArchive},
		{"IMG_1234.HEIC", []byte("\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"), ReasonHEIF},
		{"p.avif", []byte("\x00\x00\x00\x1CftypavifXXXX"), ReasonHEIF},
		{"page.pdf", []byte("\xEF\xBB\xBF  <!DOCTYPE html><script>alert(1)</script>"), ReasonScript},
		{"logo.png", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), ReasonScript},
		{"a.rtf", []byte(`{\rtf1\ansi hello}`), ReasonUnsupported},
		{"a.txt", []byte("just some text"), ReasonUnsupported},
		{"empty.pdf", nil, ReasonUnsupported},
		{"macro.docm", ooxml(t, "application/vnd.ms-word.document.macroEnabled.main+xml", "word", map[string]string{"word/vbaProject.bin": "x"}), ReasonMacro},
		{"tmpl.dotx", ooxml(t, "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml", "word", nil), ReasonUnsupported},
		{"draw.odg", odf(t, "application/vnd.oasis.opendocument.graphics"), ReasonUnsupported},
		{"macro.doc", cfb(t, cfbEntry{"WordDocument", fill(5000, "w")}, cfbEntry{name: "Macros"}), ReasonMacro},
		{"locked.docx", cfb(t, cfbEntry{"EncryptionInfo", fill(4096, "i")}, cfbEntry{"EncryptedPackage", fill(5000, "e")}), ReasonEncrypted},
		{"mail.msg", cfb(t, cfbEntry{"__substg1.0_0037001F", fill(4096, "s")}), ReasonUnsupported},
		{"broken.png", append([]byte(pngSignature), pngChunk("IHDR", make([]byte, 13))[:20]...), ReasonDamaged},
		{"bad-crc.png", func() []byte {
			p, _ := pngWithMetadata(t, marker)
			p[len(p)-1] ^= 1
			return p
		}(), ReasonDamaged},
		{"cut.jpg", func() []byte { j, _ := jpegWithMetadata(t, "", 0); return j[:len(j)/2] }(), ReasonDamaged},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.store.Put("room:1", bytes.NewReader(tc.in), tc.name)
			var te *TypeError
			if !errors.Is(err, ErrType) || !errors.As(err, &te) || te.Reason != tc.reason {
				t.Fatalf("err = %v, want ErrType (%s)", err, tc.reason)
			}
		})
	}
	if ents, _ := os.ReadDir(e.store.dir); len(ents) != 0 {
		t.Fatalf("refused uploads left %d files", len(ents))
	}
}

func newZip(w io.Writer) func(name, body string) {
	zw := zip.NewWriter(w)
	return func(name, body string) {
		if name == "" {
			zw.Close()
			return
		}
		f, _ := zw.Create(name)
		io.WriteString(f, body)
	}
}

// TestRefusedWithoutReadingTheRest: a refused type is known from the
// first 64 KiB; the rest of a huge upload is never read.
func TestRefusedWithoutReadingTheRest(t *testing.T) {
	e := newEnv(t, 0)
	c := &countingReader{r: io.MultiReader(strings.NewReader("MZ"), endless(0))}
	if _, err := e.store.Put("room:1", c, "a.pdf"); !errors.Is(err, ErrType) {
		t.Fatal(err)
	}
	if c.n > sniffLen {
		t.Fatalf("read %d bytes of a refused file, want ≤ %d", c.n, sniffLen)
	}
}

func TestSizeLimit(t *testing.T) {
	const max = 1 << 20
	e := newEnv(t, max)
	jpg, _ := jpegWithMetadata(t, marker, 0)
	sosEnd := 2 // the end of the SOS segment: entropy-coded data follows
	for jpg[sosEnd+1] != 0xDA {
		sosEnd += 2 + (int(jpg[sosEnd+2])<<8 | int(jpg[sosEnd+3]))
	}
	sosEnd += 2 + (int(jpg[sosEnd+2])<<8 | int(jpg[sosEnd+3]))
	for _, tc := range []struct {
		name string
		r    io.Reader
	}{
		{"pdf", io.MultiReader(strings.NewReader("%PDF-1.7\n"), endless('A'))},
		{"jpeg entropy data that never ends", io.MultiReader(bytes.NewReader(jpg[:sosEnd]), endless(0x11))},
		{"jpeg with an endless trailer", io.MultiReader(bytes.NewReader(jpg), endless(0))},
		{"png chunk that never ends", io.MultiReader(bytes.NewReader([]byte(pngSignature)), bytes.NewReader(pngChunk("IHDR", make([]byte, 13))),
			bytes.NewReader([]byte{0x7F, 0xFF, 0xFF, 0xFF, 'I', 'D', 'A', 'T'}), endless(0))},
		{"doc", io.MultiReader(bytes.NewReader([]byte(oleMagic)), endless(0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &countingReader{r: tc.r}
			_, err := e.store.Put("room:1", c, "x")
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("err = %v, want ErrTooLarge", err)
			}
			if c.n > max+1 {
				t.Fatalf("read %d bytes, want at most %d", c.n, max+1)
			}
			if ents, _ := os.ReadDir(e.store.dir); len(ents) != 0 {
				t.Fatalf("%d files left", len(ents))
			}
		})
	}
	// The limit itself is allowed; one byte more is not.
	if _, err := e.store.Put("room:1", bytes.NewReader(pdfLike(max, "x")), "a.pdf"); err != nil {
		t.Fatalf("exactly the limit: %v", err)
	}
	if _, err := e.store.Put("room:1", bytes.NewReader(pdfLike(max+1, "x")), "a.pdf"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("one byte over: %v", err)
	}
	if e.store.MaxBytes() != max {
		t.Fatal("MaxBytes")
	}
	if s, _ := New(Options{Dir: t.TempDir() + "/f", Keys: e.keys}); s.MaxBytes() != 25<<20 {
		t.Fatal("default limit is not 25 MiB")
	}
}

func TestRoundTripLarge(t *testing.T) {
	e := newEnv(t, 0)
	in := pdfLike(5<<20+12345, marker)
	m := mustPut(t, e, in, "big.pdf")
	got, _ := e.get(t, "room:1", m.ID)
	if !bytes.Equal(got, in) {
		t.Fatal("round trip changed the file")
	}
	noPlaintext(t, e.data, marker, "%PDF", "obj <<")
	// Every chunk-boundary case: sizes around multiples of the chunk.
	for _, n := range []int{1, 5, chunkSize - 1, chunkSize, chunkSize + 1, 2 * chunkSize, 3*chunkSize + 7} {
		in := pdfLike(max(n, 5), marker)
		m := mustPut(t, e, in, "x.pdf")
		if got, _ := e.get(t, "room:1", m.ID); !bytes.Equal(got, in) {
			t.Fatalf("%d bytes: round trip changed the file", n)
		}
	}
}

// TestPlaintextNeverOnDisk: not in the finished file, and not in the
// temporary file while an upload is under way (checked from inside the
// upload, then the upload fails and leaves nothing).
func TestPlaintextNeverOnDisk(t *testing.T) {
	e := newEnv(t, 0)
	in := pdfLike(3<<20, marker)
	checked := false
	src := &hookReader{r: bytes.NewReader(in), at: 2 << 20, hook: func() error {
		files := filesUnder(t, e.store.dir)
		if len(files) != 1 {
			t.Errorf("%d files during the upload, want the temporary one", len(files))
		}
		for p, b := range files {
			if !strings.HasPrefix(filepath.Base(p), tmpPrefix) || len(b) < 1<<20 {
				t.Errorf("temporary file %s: %d bytes", p, len(b))
			}
		}
		noPlaintext(t, e.data, marker, "%PDF", "obj <<")
		checked = true
		return errors.New("connection reset")
	}}
	_, err := e.store.Put("room:1", src, marker+".pdf")
	if err == nil || !strings.Contains(err.Error(), "connection reset") || errors.Is(err, ErrType) {
		t.Fatalf("err = %v", err)
	}
	if !checked {
		t.Fatal("the hook did not run")
	}
	if len(filesUnder(t, e.store.dir)) != 0 {
		t.Fatal("a failed upload left its temporary file")
	}
	// And once stored, name included.
	jpg, _ := jpegWithMetadata(t, marker, 0)
	mustPut(t, e, jpg, marker+".jpg")
	mustPut(t, e, in, marker+".pdf")
	noPlaintext(t, e.data, marker, "%PDF")
}

// hookReader calls hook once at byte at and returns its error.
type hookReader struct {
	r    io.Reader
	n    int64
	at   int64
	hook func() error
}

func (h *hookReader) Read(p []byte) (int, error) {
	if h.n >= h.at {
		return 0, h.hook()
	}
	if int64(len(p)) > h.at-h.n {
		p = p[:h.at-h.n]
	}
	n, err := h.r.Read(p)
	h.n += int64(n)
	return n, err
}

// readAllOf opens and reads a file; the error of whichever step failed.
func readAllOf(s *Store, subject, id string) ([]byte, error) {
	r, err := s.Open(subject, id)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func TestTamperingDetected(t *testing.T) {
	e := newEnv(t, 0)
	in := pdfLike(4*chunkSize+100, marker) // five chunks
	m := mustPut(t, e, in, "a.pdf")
	path := filepath.Join(e.store.dir, m.ID)
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdrEnd := prologueLen + headerLen + 41
	ctChunk := chunkSize + 41
	restore := func() {
		if err := os.WriteFile(path, orig, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	expectDamaged := func(t *testing.T) {
		t.Helper()
		got, err := readAllOf(e.store, "room:1", m.ID)
		if !errors.Is(err, ErrDamaged) {
			t.Fatalf("err = %v (%d bytes read), want ErrDamaged", err, len(got))
		}
	}
	for _, off := range []int{0, 7, 11, prologueLen + 30, hdrEnd + 5, hdrEnd + ctChunk + 1000, hdrEnd + 2*ctChunk - 1, len(orig) - 1} {
		t.Run(fmt.Sprintf("flip byte %d", off), func(t *testing.T) {
			b := bytes.Clone(orig)
			b[off] ^= 0x40
			os.WriteFile(path, b, 0o600)
			defer restore()
			expectDamaged(t)
		})
	}
	for _, n := range []int{len(orig) - 1, len(orig) - ctChunk + 100, hdrEnd + 4*ctChunk, hdrEnd + ctChunk, hdrEnd, 20, 0} {
		t.Run(fmt.Sprintf("cut to %d", n), func(t *testing.T) {
			os.WriteFile(path, orig[:n], 0o600)
			defer restore()
			expectDamaged(t)
		})
	}
	t.Run("appended", func(t *testing.T) {
		os.WriteFile(path, append(bytes.Clone(orig), 0), 0o600)
		defer restore()
		expectDamaged(t)
	})
	t.Run("chunks swapped", func(t *testing.T) {
		b := bytes.Clone(orig)
		c1 := bytes.Clone(b[hdrEnd+ctChunk : hdrEnd+2*ctChunk])
		copy(b[hdrEnd+ctChunk:], b[hdrEnd+2*ctChunk:hdrEnd+3*ctChunk])
		copy(b[hdrEnd+2*ctChunk:], c1)
		os.WriteFile(path, b, 0o600)
		defer restore()
		expectDamaged(t)
	})
	t.Run("cut after the last full chunk, header forged impossible", func(t *testing.T) {
		// Dropping the last chunk changes the length the header vouches
		// for; it is caught even if only Read looks.
		os.WriteFile(path, orig[:hdrEnd+4*ctChunk], 0o600)
		defer restore()
		expectDamaged(t)
	})
	t.Run("truncated after Open", func(t *testing.T) {
		r, err := e.store.Open("room:1", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		defer restore()
		if err := os.Truncate(path, int64(hdrEnd+2*ctChunk+10)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if !errors.Is(err, ErrDamaged) || len(got) > 2*chunkSize {
			t.Fatalf("err = %v after %d bytes", err, len(got))
		}
		if _, err := r.Read(make([]byte, 10)); !errors.Is(err, ErrDamaged) {
			t.Fatal("the error is not sticky")
		}
	})
	t.Run("another file's id", func(t *testing.T) {
		m2 := mustPut(t, e, pdfLike(1000, "x"), "b.pdf")
		p2 := filepath.Join(e.store.dir, m2.ID)
		if err := os.Rename(path, p2); err != nil {
			t.Fatal(err)
		}
		defer restore()
		if _, err := e.store.Open("room:1", m2.ID); !errors.Is(err, ErrDamaged) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("another room", func(t *testing.T) {
		mustPut(t, e, pdfLike(10, "x"), "b.pdf") // room:1 has a key; now room:2
		if _, err := e.store.Put("room:2", bytes.NewReader(pdfLike(10, "x")), "c.pdf"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.store.Open("room:2", m.ID); !errors.Is(err, ErrDamaged) {
			t.Fatalf("err = %v", err)
		}
	})
	if got, err := readAllOf(e.store, "room:1", m.ID); err != nil || !bytes.Equal(got, in) {
		t.Fatalf("restored file: %v", err)
	}
}

// TestErasedRoom: once the room's key is erased its files are noise; Open
// says so with the key store's ErrNoKey, not as damage.
func TestErasedRoom(t *testing.T) {
	e := newEnv(t, 0)
	m, err := e.store.Put("room:9", bytes.NewReader(pdfLike(200<<10, marker)), "a.pdf")
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.store.Open("room:9", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := e.keys.Erase("room:9"); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(r); !errors.Is(err, keystore.ErrNoKey) {
		t.Fatalf("reading on after erasure: %v", err)
	}
	if _, err := e.store.Open("room:9", m.ID); !errors.Is(err, keystore.ErrNoKey) || errors.Is(err, ErrDamaged) {
		t.Fatalf("Open after erasure: %v", err)
	}
}

func TestDeleteAndNotFound(t *testing.T) {
	e := newEnv(t, 0)
	m := mustPut(t, e, pdfLike(100, "x"), "a.pdf")
	for _, id := range []string{"", "../keys/master.key", strings.Repeat("0", 32), strings.ToUpper(m.ID), m.ID + "0"} {
		if _, err := e.store.Open("room:1", id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Open(%q): %v", id, err)
		}
	}
	for i := 0; i < 2; i++ {
		if err := e.store.Delete(m.ID); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, err := e.store.Open("room:1", m.ID); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if err := e.store.Delete("../keys"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.data, "keys")); err != nil {
		t.Fatal("Delete reached outside its directory")
	}
}

func TestNewDirectory(t *testing.T) {
	e := newEnv(t, 0)
	fi, err := os.Stat(e.store.dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("directory mode %v, %v", fi.Mode(), err)
	}
	// Leftovers of a crash go; stored files stay.
	m := mustPut(t, e, pdfLike(100, "x"), "a.pdf")
	left := filepath.Join(e.store.dir, tmpPrefix+"123456")
	os.WriteFile(left, []byte("half an upload"), 0o600)
	s2, err := New(Options{Dir: e.store.dir, Keys: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatal("leftover temporary file not removed")
	}
	if _, err := readAllOf(s2, "room:1", m.ID); err != nil {
		t.Fatal(err)
	}
	fi, _ = os.Stat(filepath.Join(e.store.dir, m.ID))
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("file mode %v", fi.Mode())
	}
	// A directory others can enter is refused, with its name.
	open := filepath.Join(t.TempDir(), "files")
	os.Mkdir(open, 0o755)
	if _, err := New(Options{Dir: open, Keys: e.keys}); err == nil || !strings.Contains(err.Error(), open) {
		t.Fatalf("err = %v", err)
	}
	for _, o := range []Options{{Keys: e.keys}, {Dir: open}, {Dir: open, Keys: e.keys, MaxBytes: -1}} {
		if _, err := New(o); err == nil {
			t.Fatalf("New(%+v) accepted", o)
		}
	}
}

func TestSeek(t *testing.T) {
	e := newEnv(t, 0)
	in := pdfLike(3*chunkSize+333, marker)
	m := mustPut(t, e, in, "a.pdf")
	r, err := e.store.Open("room:1", m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		off := rng.Int64N(int64(len(in)) + 10)
		n := rng.IntN(2 * chunkSize)
		if _, err := r.Seek(off, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, n)
		got, err := io.ReadFull(r, buf)
		end := min(off+int64(n), int64(len(in)))
		want := in[min(off, int64(len(in))):end]
		if !bytes.Equal(buf[:got], want) || (got < n && err == nil) {
			t.Fatalf("read %d at %d: %d bytes, %v", n, off, got, err)
		}
	}
	// http.ServeContent answers a range request from it.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r, err := e.store.Open("room:1", m.ID)
		if err != nil {
			http.Error(w, "no", 500)
			return
		}
		defer r.Close()
		http.ServeContent(w, req, r.Meta().Name, time.Time{}, r)
	}))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", chunkSize-10, 2*chunkSize+10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 206 || !bytes.Equal(body, in[chunkSize-10:2*chunkSize+11]) {
		t.Fatalf("range: %d, %d bytes", resp.StatusCode, len(body))
	}
}

func TestConcurrentPuts(t *testing.T) {
	e := newEnv(t, 0)
	jpg, _ := jpegWithMetadata(t, marker, 0)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				subject := fmt.Sprintf("room:%d", g%3+1)
				in := pdfLike(100<<10+g*1000+i, fmt.Sprint(g, i))
				if i%2 == 1 {
					in = jpg
				}
				m, err := e.store.Put(subject, bytes.NewReader(in), "f")
				if err != nil {
					errs <- err
					return
				}
				got, err := readAllOf(e.store, subject, m.ID)
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 0 && !bytes.Equal(got, in) {
					errs <- errors.New("content mixed up")
				}
				if i%2 == 1 && bytes.Contains(got, []byte(marker)) {
					errs <- errors.New("metadata left")
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if ents, _ := os.ReadDir(e.store.dir); len(ents) != 32 {
		t.Fatalf("%d files, want 32", len(ents))
	}
}

// TestNetworkErrorIsNotDamage: an upload cut off by the network is not
// reported as a damaged file (ErrType).
func TestNetworkErrorIsNotDamage(t *testing.T) {
	e := newEnv(t, 0)
	jpg, _ := jpegWithMetadata(t, marker, 0)
	src := io.MultiReader(bytes.NewReader(jpg[:len(jpg)/2]), errReader{io.ErrUnexpectedEOF})
	_, err := e.store.Put("room:1", src, "a.jpg")
	if err == nil || errors.Is(err, ErrType) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err = %v", err)
	}
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }
