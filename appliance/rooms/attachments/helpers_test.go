package attachments

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf16"

	"clinicbox/storage/keystore"
)

// env is a data directory as the box lays it out: keys/ and files/.
type env struct {
	data  string
	keys  *keystore.Store
	store *Store
}

func newEnv(t testing.TB, max int64) *env {
	t.Helper()
	data := t.TempDir()
	ks, err := keystore.Open(filepath.Join(data, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ks.Close() })
	s, err := New(Options{Dir: filepath.Join(data, "files"), Keys: ks, MaxBytes: max})
	if err != nil {
		t.Fatal(err)
	}
	return &env{data: data, keys: ks, store: s}
}

// get opens and reads a stored file whole.
func (e *env) get(t testing.TB, subject, id string) ([]byte, Meta) {
	t.Helper()
	r, err := e.store.Open(subject, id)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	return b, r.Meta()
}

// filesUnder lists every regular file under dir with its content.
func filesUnder(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // removed while walking
			}
			return err
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			out[p] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// noPlaintext fails if any file under dir holds one of the needles.
func noPlaintext(t testing.TB, dir string, needles ...string) {
	t.Helper()
	for p, b := range filesUnder(t, dir) {
		for _, n := range needles {
			if bytes.Contains(b, []byte(n)) {
				t.Errorf("%s holds %q in plaintext", p, n)
			}
		}
	}
}

// memOut is an in-memory output.
type memOut struct{ bytes.Buffer }

func (m *memOut) patch(off int64, b []byte) error {
	buf := m.Bytes()
	if off < 0 || off+int64(len(b)) > int64(len(buf)) {
		return fmt.Errorf("patch out of range")
	}
	copy(buf[off:], b)
	return nil
}

// strip runs one stripper over b.
func strip(f func(output, *bufio.Reader) error, b []byte) ([]byte, error) {
	var out memOut
	err := f(&out, bufio.NewReaderSize(bytes.NewReader(b), 4096))
	return out.Bytes(), err
}

// process runs the whole content pipeline (detect + handle) over b.
func process(b []byte) ([]byte, *format, error) {
	src := bufio.NewReaderSize(bytes.NewReader(b), sniffLen)
	h, err := sniffHead(src)
	if err != nil {
		return nil, nil, err
	}
	var out memOut
	f, err := h(&out, src)
	return out.Bytes(), f, err
}

// countingReader reads from r and counts what it gave out.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless repeats a byte forever.
type endless byte

func (e endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(e)
	}
	return len(p), nil
}

// ---- test pictures ----

func testImage(w, h int) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 7), uint8(y * 5), uint8((x + y) * 3), 255})
		}
	}
	return img
}

// tiffExif is an Exif APP1 payload ("Exif\0\0" + little-endian TIFF)
// with an ImageDescription and a GPS IFD (latitude and a processing
// method), both holding marker, and an Orientation if o != 0.
func tiffExif(marker string, o uint16) []byte {
	le := binary.LittleEndian
	type entry struct {
		tag, typ uint16
		count    uint32
		data     []byte // > 4 bytes: stored in the data area
		value    uint32 // ≤ 4 bytes
	}
	desc := append([]byte("Holiday "+marker), 0)
	lat := make([]byte, 24)
	for i, v := range []uint32{59, 1, 17, 1, 4548, 100} {
		le.PutUint32(lat[4*i:], v)
	}
	method := append([]byte("ASCII\x00\x00\x00"), marker...)
	ifd0 := []entry{{tag: 0x010E, typ: 2, count: uint32(len(desc)), data: desc}}
	if o != 0 {
		ifd0 = append(ifd0, entry{tag: 0x0112, typ: 3, count: 1, value: uint32(o)})
	}
	ifd0 = append(ifd0, entry{tag: 0x8825, typ: 4, count: 1}) // GPS IFD offset, set below
	gps := []entry{
		{tag: 0x0001, typ: 2, count: 2, value: uint32('N')},
		{tag: 0x0002, typ: 5, count: 3, data: lat},
		{tag: 0x001B, typ: 7, count: uint32(len(method)), data: method},
	}
	ifdLen := func(es []entry) int { return 2 + 12*len(es) + 4 }
	ifd0Off := 8
	gpsOff := ifd0Off + ifdLen(ifd0)
	dataOff := gpsOff + ifdLen(gps)
	ifd0[len(ifd0)-1].value = uint32(gpsOff)
	var data []byte
	put := func(es []entry) []byte {
		b := le.AppendUint16(nil, uint16(len(es)))
		for _, e := range es {
			b = le.AppendUint16(b, e.tag)
			b = le.AppendUint16(b, e.typ)
			b = le.AppendUint32(b, e.count)
			if e.data != nil {
				b = le.AppendUint32(b, uint32(dataOff+len(data)))
				data = append(data, e.data...)
			} else {
				b = le.AppendUint32(b, e.value)
			}
		}
		return le.AppendUint32(b, 0)
	}
	t := []byte("II\x2A\x00\x08\x00\x00\x00")
	t = append(t, put(ifd0)...)
	t = append(t, put(gps)...)
	t = append(t, data...)
	return append([]byte("Exif\x00\x00"), t...)
}

func jpegSegment(marker byte, payload []byte) []byte {
	return append([]byte{0xFF, marker, byte((len(payload) + 2) >> 8), byte(len(payload) + 2)}, payload...)
}

// jpegWithMetadata encodes a picture and puts, after SOI, an Exif APP1
// (GPS and marker), an XMP APP1, an IPTC APP13 and a COM segment, all
// holding marker; trailer bytes after EOI hold it too.
func jpegWithMetadata(t testing.TB, marker string, orientation uint16) (withMeta, plain []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, testImage(48, 32), &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	plain = b.Bytes()
	var segs []byte
	segs = append(segs, jpegSegment(0xE0, []byte("JFIF\x00\x01\x02\x00\x00\x01\x00\x01\x00\x00"))...)
	segs = append(segs, jpegSegment(0xE1, tiffExif(marker, orientation))...)
	segs = append(segs, jpegSegment(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta><exif:GPSLatitude>"+marker+"</exif:GPSLatitude></x:xmpmeta>"))...)
	segs = append(segs, jpegSegment(0xED, []byte("Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x20"+marker))...)
	segs = append(segs, jpegSegment(0xFE, []byte("comment "+marker))...)
	segs = append(segs, jpegSegment(0xE2, []byte("MPF\x00"+marker))...)
	out := append([]byte{}, plain[:2]...)
	out = append(out, segs...)
	out = append(out, plain[2:]...)
	out = append(out, []byte("trailer "+marker)...)
	return out, plain
}

func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

// pngWithMetadata encodes a picture and adds tEXt, iTXt, eXIf, tIME and a
// private chunk after IHDR and another tEXt before IEND, holding marker.
func pngWithMetadata(t testing.TB, marker string) (withMeta, plain []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, testImage(40, 30)); err != nil {
		t.Fatal(err)
	}
	plain = b.Bytes()
	ihdrEnd := 8 + 8 + 13 + 4
	var meta []byte
	meta = append(meta, pngChunk("tEXt", []byte("Comment\x00"+marker))...)
	meta = append(meta, pngChunk("iTXt", []byte("XML:com.adobe.xmp\x00\x00\x00\x00\x00<x:xmpmeta>"+marker+"</x:xmpmeta>"))...)
	meta = append(meta, pngChunk("eXIf", tiffExif(marker, 0)[6:])...)
	meta = append(meta, pngChunk("tIME", []byte{0x07, 0xE9, 1, 2, 3, 4, 5})...)
	meta = append(meta, pngChunk("prVt", []byte(marker))...)
	iend := len(plain) - 12
	out := append([]byte{}, plain[:ihdrEnd]...)
	out = append(out, meta...)
	out = append(out, plain[ihdrEnd:iend]...)
	out = append(out, pngChunk("tEXt", []byte("Author\x00"+marker))...)
	out = append(out, plain[iend:]...)
	return out, plain
}

func gifExtension(label byte, first []byte, data []byte) []byte {
	b := []byte{0x21, label}
	if first != nil {
		b = append(b, byte(len(first)))
		b = append(b, first...)
	}
	for len(data) > 0 {
		n := min(len(data), 255)
		b = append(b, byte(n))
		b = append(b, data[:n]...)
		data = data[n:]
	}
	return append(b, 0)
}

// gifWithMetadata encodes a two-frame looping GIF and adds a comment and
// an XMP application extension holding marker.
func gifWithMetadata(t testing.TB, marker string) (withMeta, plain []byte) {
	t.Helper()
	pal := color.Palette{color.Black, color.White, color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0, 255, 255}}
	var frames []*image.Paletted
	for i := 0; i < 2; i++ {
		p := image.NewPaletted(image.Rect(0, 0, 20, 10), pal)
		for x := 0; x < 20; x++ {
			p.SetColorIndex(x, (x+i)%10, uint8(1+(x+i)%3))
		}
		frames = append(frames, p)
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, &gif.GIF{Image: frames, Delay: []int{10, 10}, LoopCount: 0}); err != nil {
		t.Fatal(err)
	}
	plain = b.Bytes()
	off := 13
	if plain[10]&0x80 != 0 {
		off += 3 << (plain[10]&7 + 1)
	}
	out := append([]byte{}, plain[:off]...)
	out = append(out, gifExtension(0xFE, nil, []byte("comment "+marker))...)
	out = append(out, gifExtension(0xFF, []byte("XMP DataXMP"), []byte("<x:xmpmeta>"+marker+"</x:xmpmeta>"))...)
	out = append(out, plain[off:len(plain)-1]...)
	out = append(out, gifExtension(0xFE, nil, []byte(marker))...)
	out = append(out, plain[len(plain)-1:]...)
	return out, plain
}

// vp8l1x1 is a complete 1×1 lossless WebP bitstream.
var vp8l1x1 = []byte{0x2F, 0x00, 0x00, 0x00, 0x10, 0x07, 0x10, 0x11, 0x11, 0x88, 0x88, 0xFE, 0x07, 0x00}

func riffChunk(fourcc string, data []byte) []byte {
	b := append([]byte(fourcc), binary.LittleEndian.AppendUint32(nil, uint32(len(data)))...)
	b = append(b, data...)
	if len(data)%2 == 1 {
		b = append(b, 0)
	}
	return b
}

func riff(chunks ...[]byte) []byte {
	body := []byte("WEBP")
	for _, c := range chunks {
		body = append(body, c...)
	}
	return append(append([]byte("RIFF"), binary.LittleEndian.AppendUint32(nil, uint32(len(body)))...), body...)
}

// webpWithMetadata is an extended WebP: VP8X (EXIF and XMP flags set),
// the image, EXIF, XMP and an unknown chunk holding marker.
func webpWithMetadata(marker string) []byte {
	vp8x := []byte{vp8xEXIF | vp8xXMP, 0, 0, 0, 0, 0, 0, 0, 0, 0} // 1×1 canvas
	return riff(
		riffChunk("VP8X", vp8x),
		riffChunk("VP8L", vp8l1x1),
		riffChunk("EXIF", tiffExif(marker, 0)[6:]),
		riffChunk("XMP ", []byte("<x:xmpmeta>"+marker+"</x:xmpmeta>")),
		riffChunk("zzzz", []byte(marker+"!")), // odd length: padded
	)
}

// ---- test documents ----

func pdfLike(n int, marker string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n")
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%d 0 obj << /Title (%s %d) >> endobj\n", i, marker, i)
	}
	return b.Bytes()[:n]
}

// ooxml builds an OOXML package as Office writes it: [Content_Types].xml
// first. mainType is the main part's content type.
func ooxml(t testing.TB, mainType, dir string, extra map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	files := []struct{ name, body string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/` + dir + `/main.xml" ContentType="` + mainType + `"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="` + dir + `/main.xml"/></Relationships>`},
		{dir + "/main.xml", `<?xml version="1.0"?><document>hello</document>`},
	}
	for name, body := range extra {
		files = append(files, struct{ name, body string }{name, body})
	}
	for _, f := range files {
		w, err := zw.Create(f.name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, f.body)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// odf builds an OpenDocument file: "mimetype" stored first, as the
// specification requires.
func odf(t testing.TB, mimetype string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "mimetype", Method: zip.Store,
		CRC32: crc32.ChecksumIEEE([]byte(mimetype)), CompressedSize64: uint64(len(mimetype)), UncompressedSize64: uint64(len(mimetype))})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, mimetype)
	for _, name := range []string{"content.xml", "META-INF/manifest.xml"} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(w, "<?xml version=\"1.0\"?><x/>")
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// cfbEntry is a stream (data != nil) or storage in a compound file.
type cfbEntry struct {
	name string
	data []byte
}

// cfb builds a compound file (version 3, 512-byte sectors) as legacy
// Office writes it: header, FAT, stream sectors, and the directory last,
// so a reader only finds out what the file is at its end. Streams are at
// least 4096 bytes (no mini stream).
func cfb(t testing.TB, entries ...cfbEntry) []byte {
	t.Helper()
	const (
		sect      = 512
		free      = 0xFFFFFFFF
		endChain  = 0xFFFFFFFE
		fatSect   = 0xFFFFFFFD
		noStream  = 0xFFFFFFFF
		entrySize = 128
	)
	le := binary.LittleEndian
	var fat []uint32
	fat = append(fat, fatSect) // sector 0: the FAT
	starts := make([]uint32, len(entries))
	var body []byte
	for i, e := range entries {
		if e.data == nil {
			continue
		}
		if len(e.data) < 4096 {
			t.Fatal("cfb: streams must be at least 4096 bytes")
		}
		n := (len(e.data) + sect - 1) / sect
		starts[i] = uint32(len(fat))
		for k := 0; k < n; k++ {
			next := uint32(len(fat) + 1)
			if k == n-1 {
				next = endChain
			}
			fat = append(fat, next)
		}
		d := make([]byte, n*sect)
		copy(d, e.data)
		body = append(body, d...)
	}
	dirEntries := 1 + len(entries)
	dirSectors := (dirEntries*entrySize + sect - 1) / sect
	dirStart := uint32(len(fat))
	for k := 0; k < dirSectors; k++ {
		next := uint32(len(fat) + 1)
		if k == dirSectors-1 {
			next = endChain
		}
		fat = append(fat, next)
	}
	if len(fat) > sect/4 {
		t.Fatal("cfb: too big for one FAT sector")
	}
	for len(fat) < sect/4 {
		fat = append(fat, free)
	}
	dir := make([]byte, dirSectors*sect)
	putEntry := func(i int, name string, typ byte, left, right, child, start uint32, size uint64) {
		e := dir[i*entrySize:]
		u := utf16.Encode([]rune(name))
		for k, c := range u {
			le.PutUint16(e[2*k:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1 // black
		le.PutUint32(e[68:], left)
		le.PutUint32(e[72:], right)
		le.PutUint32(e[76:], child)
		le.PutUint32(e[116:], start)
		le.PutUint64(e[120:], size)
	}
	putEntry(0, "Root Entry", 5, noStream, noStream, 1, endChain, 0)
	for i, e := range entries {
		right := uint32(noStream)
		if i < len(entries)-1 {
			right = uint32(i + 2) // a chain of right siblings: a valid, if lopsided, tree
		}
		if e.data == nil {
			putEntry(i+1, e.name, 1, noStream, right, noStream, 0, 0)
		} else {
			putEntry(i+1, e.name, 2, noStream, right, noStream, starts[i], uint64(len(e.data)))
		}
	}
	hdr := make([]byte, sect)
	copy(hdr, oleMagic)
	le.PutUint16(hdr[24:], 0x3E)
	le.PutUint16(hdr[26:], 3)
	le.PutUint16(hdr[28:], 0xFFFE)
	le.PutUint16(hdr[30:], 9)
	le.PutUint16(hdr[32:], 6)
	le.PutUint32(hdr[44:], 1) // FAT sectors
	le.PutUint32(hdr[48:], dirStart)
	le.PutUint32(hdr[56:], 4096)
	le.PutUint32(hdr[60:], endChain)
	le.PutUint32(hdr[68:], endChain)
	le.PutUint32(hdr[76:], 0) // DIFAT[0]: the FAT is sector 0
	for k := 1; k < 109; k++ {
		le.PutUint32(hdr[76+4*k:], free)
	}
	fatBytes := make([]byte, sect)
	for k, v := range fat {
		le.PutUint32(fatBytes[4*k:], v)
	}
	out := append(hdr, fatBytes...)
	out = append(out, body...)
	return append(out, dir...)
}

func fill(n int, s string) []byte {
	return []byte(strings.Repeat(s, n/len(s)+1))[:n]
}
