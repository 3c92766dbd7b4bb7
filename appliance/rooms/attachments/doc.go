// Package attachments keeps the files people send in rooms: pictures,
// PDFs and office documents, encrypted on disk in <data>/files (never
// inside bbolt), streamed in and out without holding a whole file in
// memory.
//
// # What comes in
//
// Put reads the upload once, front to back:
//
//	upload ──► limit (MaxBytes; ErrTooLarge the moment byte MaxBytes+1 arrives,
//	           nothing more is read)
//	       ──► type from the first 64 KiB of content (never from the name);
//	           anything not on the list below is ErrType before the disk is touched
//	       ──► images: metadata stripped while streaming (JPEG, PNG, GIF, WebP)
//	           documents: copied unchanged
//	       ──► 64 KiB chunks, each sealed with the subject's key (storage/keystore)
//	       ──► <dir>/.upload-<random> (0600) ──fsync──► rename to <dir>/<id> ──fsync dir
//
// Only ciphertext is ever written: the temporary file holds sealed chunks
// from its first byte, so neither a crash nor a failed upload leaves
// plaintext on disk. A failed Put removes its temporary file; New removes
// the ones a crash left behind.
//
// Accepted (the MIME type stored is the detected one):
//
//	image/jpeg   FF D8 FF      APP1 (Exif, XMP), APP13 (IPTC), COM and every other APPn
//	                           are dropped; kept: APP0 JFIF, APP2 ICC profile, APP14 Adobe,
//	                           the tables and the entropy-coded data unchanged. A picture
//	                           turned by its Exif orientation gets back a new, minimal
//	                           Exif segment holding only that tag, so phone photos do not
//	                           show sideways. Bytes after EOI (maker trailers) are dropped.
//	image/png    \x89PNG...    known image chunks kept (IHDR PLTE IDAT IEND tRNS cHRM gAMA
//	                           iCCP sBIT sRGB cICP mDCV cLLI bKGD hIST pHYs sPLT acTL fcTL
//	                           fdAT); eXIf, tEXt, zTXt, iTXt, tIME and unknown ancillary
//	                           chunks dropped; every CRC checked.
//	image/gif    GIF87a/89a    comment and application extensions dropped (XMP lives
//	                           there), except NETSCAPE2.0 / ANIMEXTS1.0 (looping).
//	image/webp   RIFF....WEBP  EXIF, XMP and unknown chunks dropped, the VP8X flags for
//	                           them cleared and the RIFF size rewritten.
//	application/pdf            %PDF- at offset 0; stored as is.
//	docx xlsx pptx             a ZIP whose [Content_Types].xml (within the first 64 KiB)
//	                           names the main part; macro-enabled variants are refused.
//	odt ods odp                a ZIP whose first entry is "mimetype" = the ODF type.
//	doc xls ppt                an OLE2 compound file with a WordDocument, Workbook/Book or
//	                           PowerPoint Document stream; one with VBA macros
//	                           (Macros, _VBA_PROJECT_CUR, VBA) or an EncryptedPackage
//	                           is refused. The directory can sit anywhere in the file,
//	                           so this is decided after the whole file has streamed.
//
// Refused (ErrType, with a TypeError.Reason the web layer can translate):
// programs and scripts (MZ, ELF, Mach-O, #!, wasm), archives (other ZIPs,
// RAR, 7z, gzip, …), HTML, SVG and XML (they can carry script), RTF (it
// embeds OLE objects, a common exploit carrier), HEIC/HEIF/AVIF (their
// Exif and GPS sit in ISOBMFF items that cannot be removed while
// streaming: "convert to JPEG"; browsers on iPhones usually send JPEG
// anyway), and everything else. Documents keep their own metadata (author,
// revision history): they are the sender's work, sent on purpose.
//
// # On disk
//
//	<dir>/<id>      id: 128 random bits, 32 lowercase hex digits
//	  prologue      12 bytes, clear:  "CBXATT" | version 1 | 0 | header length (4, BE)
//	  header        Seal(subject, 1024 bytes, aad "clinicbox/attachments/v1/header\0"||id)
//	                  = version 1 | chunk size (4) | size (8) | type (1+n) | name (2+n) | zeros
//	  chunk 0..n-1  Seal(subject, 64 KiB of plaintext (the last one shorter),
//	                     aad "clinicbox/attachments/v1/chunk\0"||id||0||index (8)||last (1))
//
// Chunks are written where they belong (WriteAt), and chunk 0 and the
// header are written last: the header needs the final size, and chunk 0
// may still change (WebP's RIFF size). Because the AEAD's additional data
// binds every chunk to its file, its position and whether it is the last,
// a reader detects reordering, truncation (the header's size, checked
// against the file's length, and the last flag) and any changed byte; the
// subject's key binds the file to its room. Erasing the subject's key
// (crypto-shredding) makes every file of the room noise at once; Delete
// removes one file.
//
// Open checks the prologue, header and file length, then decrypts one
// chunk at a time as the caller reads (Reader also seeks, for HTTP range
// requests). A chunk is authenticated before any of its bytes are
// returned, so a damaged file gives an error from Read, never silently
// different or shorter data; bytes of earlier, intact chunks may already
// have been returned by then.
package attachments
