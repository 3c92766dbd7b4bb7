package attachments

import (
	"archive/zip"
	"bytes"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	long := strings.Repeat("å", 300)
	for _, tc := range []struct {
		in   string
		f    *format
		want string
	}{
		{"scan.jpg", fmtPDF, "scan.pdf"},
		{"scan", fmtPDF, "scan.pdf"},
		{"IMG_1.JPEG", fmtJPEG, "IMG_1.JPEG"},
		{"photo.jpg.exe", fmtJPEG, "photo.jpg.jpg"},
		{`C:\Users\anna\Desktop\Remiss 2024.pdf`, fmtPDF, "Remiss 2024.pdf"},
		{"../../etc/passwd", fmtPDF, "passwd.pdf"},
		{"faktura\u202Egpj.exe", fmtPDF, "fakturagpj.pdf"}, // right-to-left override removed
		{"a\x00b\r\nc\x7f.pdf", fmtPDF, "abc.pdf"},
		{"  two   spaces\u00a0.pdf ", fmtPDF, "two spaces.pdf"},
		{"...hidden.pdf", fmtPDF, "hidden.pdf"},
		{"", fmtPNG, "attachment.png"},
		{"/", fmtPNG, "attachment.png"},
		{"\u200b\u200b", fmtPNG, "attachment.png"},
		{"v1.2 final", fmtPDF, "v1.2 final.pdf"},
		{"rapport.final", fmtPDF, "rapport.pdf"},
		{"bad\xff\xfeutf8.doc", fmtDOC, "badutf8.doc"},
		{long + ".pdf", fmtPDF, strings.Repeat("å", 196) + ".pdf"},
	} {
		if got := cleanName(tc.in, tc.f); got != tc.want {
			t.Errorf("cleanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestStripJPEGDetails(t *testing.T) {
	jpg, _ := jpegWithMetadata(t, marker, 0)
	out, err := strip(stripJPEG, jpg)
	if err != nil {
		t.Fatal(err)
	}
	// JFIF stays; nothing after EOI.
	if !bytes.Contains(out, []byte("JFIF\x00")) || !bytes.HasSuffix(out, []byte{0xFF, 0xD9}) {
		t.Fatal("JFIF lost or trailer kept")
	}
	// Stripping is idempotent.
	again, err := strip(stripJPEG, out)
	if err != nil || !bytes.Equal(again, out) {
		t.Fatalf("second strip differs: %v", err)
	}
	// An ICC profile and an Adobe segment are kept.
	icc := jpegSegment(0xE2, []byte("ICC_PROFILE\x00\x01\x01profile-bytes"))
	adobe := jpegSegment(0xEE, []byte("Adobe\x00\x64\x00\x00\x00\x00\x01"))
	in := append(append(append([]byte{0xFF, 0xD8}, icc...), adobe...), jpg[2:]...)
	out, err = strip(stripJPEG, in)
	if err != nil || !bytes.Contains(out, icc) || !bytes.Contains(out, adobe) {
		t.Fatalf("ICC or Adobe segment lost: %v", err)
	}
	// Orientation 1 (normal) needs no Exif at all.
	j1, _ := jpegWithMetadata(t, marker, 1)
	if out, _ := strip(stripJPEG, j1); bytes.Contains(out, []byte("Exif")) {
		t.Fatal("Exif kept for orientation 1")
	}
}

func TestStripPNGDetails(t *testing.T) {
	in, plain := pngWithMetadata(t, marker)
	out, err := strip(stripPNG, append(bytes.Clone(in), "trailing "+marker...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, plain) {
		t.Fatal("want exactly the encoder's PNG back")
	}
	// Unknown critical chunks are refused; unknown ancillary ones dropped.
	bad := append(append([]byte{}, plain[:33]...), pngChunk("ABCD", []byte("x"))...)
	bad = append(bad, plain[33:]...)
	if _, err := strip(stripPNG, bad); !errors.Is(err, ErrType) {
		t.Fatalf("unknown critical chunk: %v", err)
	}
	// IHDR must be first.
	if _, err := strip(stripPNG, append([]byte(pngSignature), plain[33:]...)); !errors.Is(err, ErrType) {
		t.Fatal("no IHDR accepted")
	}
}

func TestStripGIFDetails(t *testing.T) {
	in, plain := gifWithMetadata(t, marker)
	out, err := strip(stripGIF, in)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, plain) {
		t.Fatal("want exactly the encoder's GIF back")
	}
	// A GIF cut off after its image gets a trailer and still works.
	out, err = strip(stripGIF, plain[:len(plain)-1])
	if err != nil || !bytes.Equal(out, plain) {
		t.Fatalf("missing trailer: %v", err)
	}
}

func TestStripWebPDetails(t *testing.T) {
	// The simple format (no VP8X) passes unchanged; trailing bytes go.
	simple := riff(riffChunk("VP8L", vp8l1x1))
	out, err := strip(stripWebP, append(bytes.Clone(simple), "junk"...))
	if err != nil || !bytes.Equal(out, simple) {
		t.Fatalf("simple WebP: %v %q", err, out)
	}
	// A chunk running past the RIFF is damage.
	bad := bytes.Clone(simple)
	bad[16] = 0xFF
	if _, err := strip(stripWebP, bad); !errors.Is(err, ErrType) {
		t.Fatalf("err = %v", err)
	}
	// ICC profile and animation chunks are kept, flags other than EXIF/XMP too.
	anim := riff(riffChunk("VP8X", []byte{0x20 | 0x02 | vp8xXMP, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		riffChunk("ICCP", []byte("icc")), riffChunk("ANIM", make([]byte, 6)),
		riffChunk("ANMF", append(make([]byte, 16), riffChunk("VP8L", vp8l1x1)...)), riffChunk("XMP ", []byte(marker)))
	out, err = strip(stripWebP, anim)
	want := riff(riffChunk("VP8X", []byte{0x22, 0, 0, 0, 0, 0, 0, 0, 0, 0}),
		riffChunk("ICCP", []byte("icc")), riffChunk("ANIM", make([]byte, 6)),
		riffChunk("ANMF", append(make([]byte, 16), riffChunk("VP8L", vp8l1x1)...)))
	if err != nil || !bytes.Equal(out, want) {
		t.Fatalf("animated WebP: %v", err)
	}
}

// TestZipDetection: the office-document checks look only at the first
// entries, the way a streaming reader can.
func TestZipDetection(t *testing.T) {
	docx := ooxml(t, "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml", "word", nil)
	if _, f, err := process(docx); err != nil || f != fmtDOCX {
		t.Fatalf("docx: %v", err)
	}
	// Content types the detector cannot read (cut off): the entry names decide.
	storedCT := zipStored(t, map[string]string{contentName: "<Types><Override", "word/document.xml": "<w/>"}, contentName, "word/document.xml")
	if _, f, err := process(storedCT); err != nil || f != fmtDOCX {
		t.Fatalf("by entry names: %v %v", f, err)
	}
	// Without content types, word/ alone is just a ZIP.
	noCT := zipStored(t, map[string]string{"word/document.xml": "<w/>"}, "word/document.xml")
	if _, _, err := process(noCT); !errors.Is(err, ErrType) {
		t.Fatal("a ZIP with word/ but no content types accepted")
	}
}

func zipStored(t *testing.T, files map[string]string, order ...string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, n := range order {
		body := []byte(files[n])
		w, err := zw.CreateRaw(&zip.FileHeader{Name: n, Method: zip.Store, CRC32: crc32.ChecksumIEEE(body),
			CompressedSize64: uint64(len(body)), UncompressedSize64: uint64(len(body))})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(body)
	}
	zw.Close()
	return b.Bytes()
}

func TestLimitReader(t *testing.T) {
	c := &countingReader{r: endless('x')}
	l := &limitReader{r: c, left: 10}
	buf := make([]byte, 100)
	n, err := l.Read(buf)
	if n != 0 || !errors.Is(err, ErrTooLarge) || c.n != 11 {
		t.Fatalf("n=%d err=%v read=%d", n, err, c.n)
	}
	if _, err := l.Read(buf); !errors.Is(err, ErrTooLarge) || c.n != 11 {
		t.Fatal("read on after the limit")
	}
	l = &limitReader{r: strings.NewReader("0123456789"), left: 10}
	var got []byte
	for {
		n, err := l.Read(buf[:3])
		got = append(got, buf[:n]...)
		if err != nil {
			if err.Error() != "EOF" || string(got) != "0123456789" {
				t.Fatalf("%q %v", got, err)
			}
			break
		}
	}
}

func TestOLEScanNames(t *testing.T) {
	// Embedded objects: a Word document holding an Excel sheet is a .doc,
	// because its own stream comes first in the directory.
	doc := cfb(t, cfbEntry{"WordDocument", fill(5000, "w")}, cfbEntry{name: "ObjectPool"}, cfbEntry{"Workbook", fill(4096, "x")})
	if _, f, err := process(doc); err != nil || f != fmtDOC {
		t.Fatalf("%v %v", f, err)
	}
	// A stream name in the document's text is not at a directory slot.
	text := []byte(oleMagic)
	text = append(text, make([]byte, 600)...)
	text = append(text, []byte("W\x00o\x00r\x00d\x00D\x00o\x00c\x00u\x00m\x00e\x00n\x00t\x00")...)
	text = append(text, make([]byte, 4096)...)
	if _, _, err := process(text); !errors.Is(err, ErrType) {
		t.Fatal("a loose name was taken for a directory entry")
	}
}
