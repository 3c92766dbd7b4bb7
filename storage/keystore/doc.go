// Package keystore encrypts personal content with one data key per
// subject (a user, a room: "user:42", "room:7"), so that erasing a
// subject is a matter of destroying one key: crypto-shredding.
//
// Why: bbolt never zeroes freed pages and never shrinks its file, so a
// deleted value can linger in the database file, in its free pages and in
// every snapshot taken of it. If the value was sealed with a key that no
// longer exists anywhere, what lingers is noise.
//
// The scheme:
//
//	<data>/keys/                       directory, mode 0700
//	├── master.key     32 random bytes, mode 0600, created once; backed up by the operator, apart from the data
//	├── subjects.keys  the wrapped data keys, rewritten whole on every change
//	└── lock           flock'd while a Store is open: one process owns the keys
//
//	master.key ──HKDF-SHA256──┬─ wrap key  ──XChaCha20-Poly1305(aad = subject id)──► wrapped data key
//	                          ├─ MAC key   ──HMAC-SHA256 over the whole subjects.keys
//	                          └─ fingerprint (8 bytes, tells "wrong master.key" from "damaged file")
//
//	data key (32 random bytes per subject) ──XChaCha20-Poly1305──► ciphertext
//
// A ciphertext (what Seal returns and callers store in bbolt):
//
//	version (1 byte, = 1) || nonce (24 random bytes) || XChaCha20-Poly1305 output (len(plaintext) + 16)
//
// The AEAD's additional data is the version byte followed by the caller's
// aad, so a ciphertext moved to another record (another aad) or another
// subject (another key) fails to open with ErrDecrypt. XChaCha20's 24-byte
// nonces are random: safe for any number of messages under one key.
//
// subjects.keys, version 1 (integers big-endian):
//
//	magic        7 bytes  "CBXKEYS"
//	version      1 byte   1
//	fingerprint  8 bytes  of the master key that wrote the file
//	count        4 bytes  number of entries
//	entries      count × { len (1 byte, 1..255) | subject id (len bytes) |
//	                       wrapped key (72 bytes: nonce 24 | sealed key 32 + tag 16) }
//	mac         32 bytes  HMAC-SHA256(MAC key, every byte above)
//
// The file is never edited in place: each change writes a temporary file
// in the same directory, fsyncs it, renames it over subjects.keys and
// fsyncs the directory. Open refuses a file that fails its MAC, is cut
// short or has trailing bytes, and leaves it untouched: keys are never
// dropped silently. A new key is durable before Seal returns the first
// ciphertext made with it.
//
// What Erase guarantees, once it returns: the subject's key is gone from
// subjects.keys (the old file was replaced by rename, and temporary files
// left by a crash are removed at Open), its cached copy in memory is
// zeroed, and so everything ever sealed for the subject — in the live
// database, in its freed pages, in database snapshots — can no longer be
// read with what is on the box: master.key alone does not bring the key
// back.
//
// What it does not guarantee:
//   - Backups of subjects.keys (Backup, or a copy of the data directory,
//     or a filesystem or VM snapshot) taken before the erasure still hold
//     the wrapped key; with master.key they can decrypt the subject's old
//     data until they age out of the backup rotation.
//   - The filesystem frees the old file's blocks without overwriting them
//     (journal, copy-on-write, SSD wear levelling). Those bytes are wrapped
//     keys: as with backups, reading them needs master.key too.
//   - Go's runtime may leave copies of a key in memory it has not reused
//     yet (AEAD state, garbage); zeroing the cache is best effort.
//   - Plaintext that left the box (exports, e-mail, browser caches) is out
//     of reach, and Erase does not stop a later Seal for the same subject:
//     that creates a new key. Stop writing for a subject before erasing it.
//     (Data sealed under the erased key then fails with ErrDecrypt under
//     the new one, not ErrNoKey.)
//
// Subject ids are stored in clear in subjects.keys: they are internal ids,
// never names, and an erased subject's id leaves the file with its key.
package keystore
