// Package auditlog is the access log for patient data that Swedish patient
// data law requires (Patientdatalagen; HSLF-FS 2016:40 4 kap. 9 §): every
// read or change of a client's data is logged with who did it (actor user
// id and the role they acted in), whose data it was (subject user id),
// what was done (an action code such as "room.read", "profile.update",
// "export.create", with an optional detail such as "room:7"), for which
// care unit (unit id) and when (UTC, nanoseconds). The administrator
// reviews it (Find, WriteCSV) and a client can see who accessed their
// data (Find with SubjectID; identity turns actor ids into staff names).
//
// Entries hold internal ids and codes only, never a name, personnummer,
// message text or contact detail; Append refuses details that do not look
// like ids. The log is append-only: this package has no way to change or
// delete an entry.
//
// # Chain
//
// Entries are numbered 1, 2, 3... and hash-chained. Each entry's Hash is
// SHA-256 of its canonical encoding (a fixed binary layout, see
// appendCanonical: seq, unix nanoseconds, actor id, role, subject id, unit
// id, action, detail, the strings length-prefixed, then PrevHash), and
// its PrevHash is the Hash of the entry before; entry 1 chains from a
// genesis value, SHA-256("clinicbox audit log v1 genesis\x00" + box id).
// Every append also records the end of the log (last seq and hash) in
// audit-meta, so Verify catches an edited entry, one deleted from the
// middle, a forged one inserted, the last entries cut off, and entries
// swapped. Someone with write access to the file and this source could
// rebuild the whole chain; Log.Head gives an anchor (seq, hash) to keep
// elsewhere, which catches that too. The chain depends on no key, so
// backups and restores keep it intact.
//
// Append commits through storage.DB.Batch, so concurrent requests share
// an fsync; AppendTx appends inside a caller's write transaction, so that
// a change and its log entry commit together. Both read the tail from
// the transaction, so the chain stays right when bbolt re-runs a batch.
//
// # Buckets
//
//	clinicbox.db
//	├── audit              ID(seq) 8 bytes BE → entry: canonical encoding || SHA-256 (32)
//	│                      the bucket's sequence (NextSequence) is the last seq
//	├── audit-by-subject   subject id (8 BE) || seq (8 BE) → entry time, unix ns (8 BE)
//	├── audit-by-actor     actor id (8 BE) || seq (8 BE)   → entry time, unix ns (8 BE)
//	├── audit-by-unit      unit id (8 BE) || seq (8 BE)    → entry time, unix ns (8 BE)
//	│                      (an id of 0 — system actor, no unit — is not indexed)
//	└── audit-meta
//	    └── tail           → last seq (8 BE) || its hash (32); absent while the log is empty
//
// Find and WriteCSV walk an index when the query names a subject, actor
// or unit, and check the period against the index value before reading
// the entry; a query by period alone walks every entry.
//
// # Retention and erasure
//
// The law asks for the log to be kept at least 5 years. The retention
// engine must never delete from these buckets before then; today nothing
// deletes from them at all. (Pruning entries older than the retention
// time would need the cut point, seq and hash, recorded in audit-meta as
// the new start of the chain; it is not built.)
//
// When a client's account is erased, the log stays as it is: its entries
// name the client only by the numeric user id, which after erasure no
// longer resolves to a person, so they become pseudonymous. Nothing in
// this package changes on erasure, and erasure must not touch these
// buckets (that would break the chain, and the law requires the log).
// Staff ids stay resolvable: who accessed data is exactly what the log is
// for.
package auditlog
