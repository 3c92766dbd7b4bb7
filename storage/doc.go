// Package storage is clinicbox's bbolt layer: it opens the one database
// file in the data directory, migrates its schema, encodes values, builds
// keys, takes online snapshots, compacts and checks the file offline, and
// exports metrics about it.
//
// The bucket tree (schema 8). Each bucket is created by the migration
// named beside it; later migrations add theirs here, so this drawing stays
// the one place that shows the whole file:
//
//	clinicbox.db
//	├── meta                            migration 1 (foundation)
//	│   ├── schema_version → uint64, 8 bytes big-endian: last migration applied
//	│   ├── box_id         → 32 lowercase hex characters (16 random bytes), set once
//	│   └── created_at     → RFC 3339 UTC text, set once
//	├── units                           migration 2 (identity): id → Unit
//	├── users                           migration 2: id → user record, personal fields sealed
//	├── users-by-email                  migration 2: HMAC(e-mail) → user id
//	├── tokens                          migration 2: SHA-256(link token) → set-up/invitation link
//	├── sessions                        migration 2: SHA-256(session token) → session
//	├── sessions-by-user                migration 2: user id || SHA-256(token) → nil
//	├── audit                           migration 3 (audit): seq → entry || SHA-256 (hash chain)
//	├── audit-by-subject                migration 3: client id || seq → time
//	├── audit-by-actor                  migration 3: actor id || seq → time
//	├── audit-by-unit                   migration 3: unit id || seq → time
//	├── audit-meta                      migration 3: "tail" → last seq || its hash
//	├── users-by-pnr                    migration 4 (eid): HMAC(personnummer) → user id
//	├── passkeys                        migration 5 (passkeys): user id || credential id → credential
//	├── passkeys-by-credential          migration 5: credential id → user id
//	├── rooms                           migration 6 (rooms): room id → room (title sealed)
//	├── room-members                    migration 6: room id || user id → membership, read state
//	├── user-rooms                      migration 6: user id || room id → nil (a user's room list)
//	├── room-events                     migration 6: room id || event id → event (body sealed)
//	├── room-activity                   migration 6: room id || time key → who was active (no content)
//	├── attachments                     migration 6: attachment id → metadata (name sealed)
//	├── events-seq                      migration 6: the global event sequence (resume after a drop)
//	├── retention                       migration 7 (retention): "settings" → JSON
//	│   └── runs                        migration 7: time key → counts of one run (no ids, no names)
//	└── error-log                       migration 8 (error-log): time key → code, internal user id
//
// The meta values are raw bytes, not codec values, so that any future
// binary can read the schema version whatever the codec has become.
//
// Keys:
//
//	id key     ID(n)          8 bytes: n big-endian, n from Bucket.NextSequence (NextID)
//	time key   TimeKey(t, n)  16 bytes: unix nanoseconds of t, big-endian with the
//	                          sign bit flipped, then n big-endian; sorts by time, then id
//
// Values are written with Put and read with Get: one format byte
// (currently 1 = encoding/json) followed by the encoded value, so the
// encoding can change later without a flag day.
//
// Rules this package enforces and callers must keep:
//   - One process owns the file: Open takes an exclusive flock with a
//     timeout and fails with ErrLocked instead of waiting forever.
//   - A damaged file is never written to or "repaired": Open fails with
//     ErrCorrupt and points to `clinicbox db check` and to the backups.
//   - Every commit is fsynced (never NoSync). Use DB.Batch for writes made
//     by concurrent requests and DB.Update elsewhere.
//   - Never hold a read transaction across network I/O: a long reader
//     pins old pages and blocks remaps. Copy a snapshot to a file with
//     SnapshotToFile, then serve the file.
//   - bbolt never shrinks its file and never zeroes freed pages, so
//     erasure relies on per-subject encryption keys and offline Compact.
package storage
