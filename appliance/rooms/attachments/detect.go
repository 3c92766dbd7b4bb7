package attachments

import (
	"bufio"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"io"
	"strings"
)

// format is an accepted type: its MIME type and file-name extensions,
// the first being the one a name gets when its own does not match.
type format struct {
	mime string
	exts []string
}

var (
	fmtJPEG = &format{"image/jpeg", []string{".jpg", ".jpeg", ".jpe"}}
	fmtPNG  = &format{"image/png", []string{".png"}}
	fmtGIF  = &format{"image/gif", []string{".gif"}}
	fmtWebP = &format{"image/webp", []string{".webp"}}
	fmtPDF  = &format{"application/pdf", []string{".pdf"}}
	fmtDOCX = &format{"application/vnd.openxmlformats-officedocument.wordprocessingml.document", []string{".docx"}}
	fmtXLSX = &format{"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", []string{".xlsx"}}
	fmtPPTX = &format{"application/vnd.openxmlformats-officedocument.presentationml.presentation", []string{".pptx"}}
	fmtODT  = &format{"application/vnd.oasis.opendocument.text", []string{".odt"}}
	fmtODS  = &format{"application/vnd.oasis.opendocument.spreadsheet", []string{".ods"}}
	fmtODP  = &format{"application/vnd.oasis.opendocument.presentation", []string{".odp"}}
	fmtDOC  = &format{"application/msword", []string{".doc"}}
	fmtXLS  = &format{"application/vnd.ms-excel", []string{".xls"}}
	fmtPPT  = &format{"application/vnd.ms-powerpoint", []string{".ppt"}}
)

// handler moves the content from src to dst (stripping metadata where
// that applies) and returns the final type.
type handler func(dst output, src *bufio.Reader) (*format, error)

// sniffHead peeks at the start of src and picks the handler.
func sniffHead(src *bufio.Reader) (handler, error) {
	head, err := src.Peek(sniffLen)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	return sniff(head)
}

func stripper(f *format, strip func(output, *bufio.Reader) error) handler {
	return func(dst output, src *bufio.Reader) (*format, error) {
		if err := strip(dst, src); err != nil {
			return nil, err
		}
		return f, nil
	}
}

func copier(f *format) handler {
	return func(dst output, src *bufio.Reader) (*format, error) {
		if _, err := src.WriteTo(dst); err != nil {
			return nil, err
		}
		return f, nil
	}
}

// sniff decides from the first bytes of the content (up to sniffLen).
func sniff(head []byte) (handler, error) {
	has := func(off int, magic string) bool {
		return len(head) >= off+len(magic) && string(head[off:off+len(magic)]) == magic
	}
	switch {
	case has(0, "\xFF\xD8\xFF"):
		return stripper(fmtJPEG, stripJPEG), nil
	case has(0, pngSignature):
		return stripper(fmtPNG, stripPNG), nil
	case has(0, "GIF87a"), has(0, "GIF89a"):
		return stripper(fmtGIF, stripGIF), nil
	case has(0, "RIFF") && has(8, "WEBP"):
		return stripper(fmtWebP, stripWebP), nil
	case has(0, "%PDF-"):
		return copier(fmtPDF), nil
	case has(0, "PK\x03\x04"):
		f, err := sniffZip(head)
		if err != nil {
			return nil, err
		}
		return copier(f), nil
	case has(0, oleMagic):
		return handleOLE, nil
	}
	return nil, refusal(head)
}

// refusal names what a refused file is, where that is known.
func refusal(head []byte) error {
	has := func(off int, magics ...string) bool {
		for _, m := range magics {
			if len(head) >= off+len(m) && string(head[off:off+len(m)]) == m {
				return true
			}
		}
		return false
	}
	switch {
	case len(head) == 0:
		return refuse(ReasonUnsupported, "the file is empty")
	case has(0, "MZ", "\x7FELF", "\xFE\xED\xFA\xCE", "\xFE\xED\xFA\xCF", "\xCE\xFA\xED\xFE", "\xCF\xFA\xED\xFE",
		"\xCA\xFE\xBA\xBE", "#!", "\x00asm", "dex\n"):
		return refuse(ReasonProgram, "a program or script")
	case has(0, "PK\x05\x06", "PK\x07\x08", "Rar!\x1A\x07", "7z\xBC\xAF\x27\x1C", "\x1F\x8B", "BZh",
		"\xFD7zXZ\x00", "\x28\xB5\x2F\xFD", "MSCF", "xar!"), has(257, "ustar"):
		return refuse(ReasonArchive, "an archive")
	case has(4, "ftyp") && len(head) >= 12 && heifBrand(string(head[8:12])):
		return refuse(ReasonHEIF, "a HEIC/HEIF/AVIF picture: its location data cannot be removed here; convert it to JPEG")
	case has(0, "{\\rtf"):
		return refuse(ReasonUnsupported, "an RTF document (it can embed objects); save it as PDF or DOCX")
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n\f")
	if len(t) > 0 && t[0] == '<' {
		return refuse(ReasonScript, "a web page, SVG or XML file (they can carry script)")
	}
	return refuse(ReasonUnsupported, "not a picture (JPEG, PNG, GIF, WebP), PDF or office document")
}

func heifBrand(b string) bool {
	switch b {
	case "heic", "heix", "hevc", "hevx", "heim", "heis", "hevm", "hevs", "mif1", "msf1", "avif", "avis":
		return true
	}
	return false
}

// ODF and OOXML main types.
const (
	odfPrefix   = "application/vnd.oasis.opendocument."
	contentName = "[Content_Types].xml"
	maxZipScan  = 256 // entries looked at in the head
	maxCTSize   = 256 << 10
)

// sniffZip tells office documents from other ZIP files by their first
// entries. A streaming reader cannot see the central directory at the
// end, so it walks the local file headers that fit in head.
func sniffZip(head []byte) (*format, error) {
	var byPrefix *format
	sawCT := false
	off := 0
	for i := 0; i < maxZipScan && off >= 0 && off+30 <= len(head); i++ {
		h := head[off:]
		if string(h[:4]) != "PK\x03\x04" {
			break
		}
		flags := binary.LittleEndian.Uint16(h[6:])
		method := binary.LittleEndian.Uint16(h[8:])
		csize := int64(binary.LittleEndian.Uint32(h[18:]))
		nlen := int(binary.LittleEndian.Uint16(h[26:]))
		xlen := int(binary.LittleEndian.Uint16(h[28:]))
		start := 30 + nlen + xlen
		if start > len(h) {
			break
		}
		name := string(h[30 : 30+nlen])
		if flags&1 != 0 {
			return nil, refuse(ReasonEncrypted, "an encrypted ZIP archive")
		}
		known := flags&8 == 0 || csize != 0
		data := h[start:]
		if known && int64(len(data)) > csize {
			data = data[:csize]
		}
		if i == 0 && name == "mimetype" && method == 0 && known {
			switch string(data) {
			case odfPrefix + "text":
				return fmtODT, nil
			case odfPrefix + "spreadsheet":
				return fmtODS, nil
			case odfPrefix + "presentation":
				return fmtODP, nil
			}
			return nil, refuse(ReasonUnsupported, "an OpenDocument file other than text, spreadsheet or presentation")
		}
		lower := strings.ToLower(name)
		switch {
		case name == contentName:
			sawCT = true
			if f, err := classifyContentTypes(inflated(method, data, known)); f != nil || err != nil {
				return f, err
			}
		case strings.HasSuffix(lower, "vbaproject.bin"):
			return nil, refuse(ReasonMacro, "an office document with macros")
		case byPrefix == nil && strings.HasPrefix(name, "word/"):
			byPrefix = fmtDOCX
		case byPrefix == nil && strings.HasPrefix(name, "xl/"):
			byPrefix = fmtXLSX
		case byPrefix == nil && strings.HasPrefix(name, "ppt/"):
			byPrefix = fmtPPTX
		}
		if !known || csize > int64(len(head)) {
			break // the next header cannot be found
		}
		off += start + int(csize)
	}
	if sawCT && byPrefix != nil {
		return byPrefix, nil
	}
	return nil, refuse(ReasonArchive, "a ZIP archive that is not an office document")
}

// inflated returns as much of an entry's content as the head holds.
func inflated(method uint16, data []byte, known bool) []byte {
	switch method {
	case 0:
		if known {
			return data
		}
	case 8:
		fr := flate.NewReader(bytes.NewReader(data))
		out, _ := io.ReadAll(io.LimitReader(fr, maxCTSize)) // a partial result is still useful
		return out
	}
	return nil
}

// classifyContentTypes reads the OOXML package's content types: nil, nil
// if they do not say (cut off, or not readable), so the entry names
// decide.
func classifyContentTypes(ct []byte) (*format, error) {
	s := string(ct)
	switch {
	case strings.Contains(s, "macroEnabled") || strings.Contains(s, "vbaProject"):
		return nil, refuse(ReasonMacro, "an office document with macros")
	case strings.Contains(s, "wordprocessingml.document.main+xml"):
		return fmtDOCX, nil
	case strings.Contains(s, "spreadsheetml.sheet.main+xml"):
		return fmtXLSX, nil
	case strings.Contains(s, "presentationml.presentation.main+xml"):
		return fmtPPTX, nil
	case strings.Contains(s, "</Types>"):
		// Complete, and none of the three: a template, XPS, …
		return nil, refuse(ReasonUnsupported, "an Open Packaging file that is not a Word, Excel or PowerPoint document")
	}
	return nil, nil
}

// OLE2 compound files (legacy .doc, .xls, .ppt; also .msg, .msi, …).
const oleMagic = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"

// handleOLE copies the file while looking at every 128-byte slot after
// the 512-byte header for a directory entry. Sectors are 512 or 4096
// bytes and entries 128, so every entry sits at such a slot, wherever
// the directory's sectors are. The first main stream found names the
// type; macro storages anywhere refuse the file.
func handleOLE(dst output, src *bufio.Reader) (*format, error) {
	s := &oleScan{}
	if _, err := src.WriteTo(io.MultiWriter(dst, s)); err != nil {
		return nil, err
	}
	switch {
	case s.macros:
		return nil, refuse(ReasonMacro, "an office document with macros")
	case s.encrypted:
		return nil, refuse(ReasonEncrypted, "a password-protected office document")
	case s.found == nil:
		return nil, refuse(ReasonUnsupported, "a compound file that is not a Word, Excel or PowerPoint document")
	}
	return s.found, nil
}

type oleScan struct {
	off       int64
	slot      [128]byte
	n         int
	found     *format
	macros    bool
	encrypted bool
}

func (s *oleScan) Write(p []byte) (int, error) {
	total := len(p)
	for len(p) > 0 {
		k := copy(s.slot[s.n:], p)
		s.n += k
		p = p[k:]
		if s.n == len(s.slot) {
			if s.off >= 512 {
				s.entry(s.slot[:])
			}
			s.off += int64(len(s.slot))
			s.n = 0
		}
	}
	return total, nil
}

func (s *oleScan) entry(e []byte) {
	nameLen := int(binary.LittleEndian.Uint16(e[64:]))
	typ, color := e[66], e[67]
	if nameLen < 4 || nameLen > 64 || nameLen%2 != 0 || (typ != 1 && typ != 2) || color > 1 {
		return
	}
	if e[nameLen-2] != 0 || e[nameLen-1] != 0 {
		return
	}
	var name [31]byte
	n := 0
	for i := 0; i < nameLen-2; i += 2 {
		if e[i+1] != 0 || e[i] == 0 || e[i] >= 0x80 {
			return // not one of the ASCII names looked for
		}
		name[n] = e[i]
		n++
	}
	switch string(name[:n]) {
	case "WordDocument":
		s.main(typ, fmtDOC)
	case "Workbook", "Book":
		s.main(typ, fmtXLS)
	case "PowerPoint Document":
		s.main(typ, fmtPPT)
	case "Macros", "_VBA_PROJECT_CUR", "VBA", "_VBA_PROJECT":
		s.macros = true
	case "EncryptedPackage":
		s.encrypted = true
	}
}

func (s *oleScan) main(typ byte, f *format) {
	if typ == 2 && s.found == nil {
		s.found = f
	}
}
