package attachments

import (
	"bufio"
	"encoding/binary"
	"hash/crc32"
	"io"
)

const pngSignature = "\x89PNG\r\n\x1a\n"

// pngKeep says whether a chunk survives: the critical ones and the
// ancillary ones that describe how to show the picture. Everything else
// (eXIf, tEXt, zTXt, iTXt, tIME, private chunks) is dropped.
func pngKeep(typ string) bool {
	switch typ {
	case "IHDR", "PLTE", "IDAT", "IEND",
		"tRNS", "cHRM", "gAMA", "iCCP", "sBIT", "sRGB", "cICP", "mDCV", "cLLI", "mDCv", "cLLi",
		"bKGD", "hIST", "pHYs", "sPLT",
		"acTL", "fcTL", "fdAT": // APNG
		return true
	}
	return false
}

// stripPNG copies a PNG chunk by chunk, checking every CRC and dropping
// the chunks not in pngKeep. It stops after IEND. Chunk data is streamed,
// never held whole.
func stripPNG(w output, r *bufio.Reader) error {
	var sig [8]byte
	if _, err := io.ReadFull(r, sig[:]); err != nil {
		return readErr(err, "the PNG image")
	}
	if string(sig[:]) != pngSignature {
		return damagedf("not a PNG image")
	}
	if _, err := w.Write(sig[:]); err != nil {
		return err
	}
	var hdr [8]byte
	var sum [4]byte
	for first := true; ; first = false {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return readErr(err, "the PNG image")
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		typ := string(hdr[4:])
		if n > 1<<31-1 {
			return damagedf("PNG: bad chunk length")
		}
		for _, c := range hdr[4:] {
			if (c < 'A' || c > 'Z') && (c < 'a' || c > 'z') {
				return damagedf("PNG: bad chunk type")
			}
		}
		if first && typ != "IHDR" {
			return damagedf("PNG: IHDR is not first")
		}
		keep := pngKeep(typ)
		if !keep && typ[0] >= 'A' && typ[0] <= 'Z' {
			return damagedf("PNG: unknown critical chunk %q", typ)
		}
		crc := crc32.NewIEEE()
		crc.Write(hdr[4:])
		var dst io.Writer = crc
		if keep {
			if _, err := w.Write(hdr[:]); err != nil {
				return err
			}
			dst = io.MultiWriter(w, crc)
		}
		if _, err := io.CopyN(dst, r, int64(n)); err != nil {
			return readErr(err, "the PNG image")
		}
		if _, err := io.ReadFull(r, sum[:]); err != nil {
			return readErr(err, "the PNG image")
		}
		if binary.BigEndian.Uint32(sum[:]) != crc.Sum32() {
			return damagedf("PNG: chunk %q fails its CRC", typ)
		}
		if keep {
			if _, err := w.Write(sum[:]); err != nil {
				return err
			}
		}
		if typ == "IEND" {
			return nil
		}
	}
}
