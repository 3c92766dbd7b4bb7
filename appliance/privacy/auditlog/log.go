package auditlog

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"clinicbox/storage"
)

// Bucket and key names; doc.go draws them.
const (
	BucketEntries   = "audit"
	BucketBySubject = "audit-by-subject"
	BucketByActor   = "audit-by-actor"
	BucketByUnit    = "audit-by-unit"
	BucketMeta      = "audit-meta"

	keyTail = "tail"
)

// Buckets lists every bucket the log uses, for the storage migration that
// creates them.
func Buckets() []string {
	return []string{BucketEntries, BucketBySubject, BucketByActor, BucketByUnit, BucketMeta}
}

// CreateBuckets creates the log's buckets where missing. New calls it; a
// storage migration may call it too.
func CreateBuckets(tx *bbolt.Tx) error {
	for _, name := range Buckets() {
		if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
			return fmt.Errorf("auditlog: create bucket %q: %w", name, err)
		}
	}
	return nil
}

// Log is the patient-data access log of one box. It is safe for
// concurrent use; it keeps no state of its own beyond the database.
type Log struct {
	db      *storage.DB
	boxID   string
	genesis [32]byte
	now     func() time.Time
}

// New returns the log kept in db, creating its buckets if missing. boxID
// must be db.BoxID() (or empty, meaning that): the chain starts from a
// value derived from it, and VerifyFile reads it back from the file.
func New(db *storage.DB, boxID string) (*Log, error) {
	if db == nil {
		return nil, errors.New("auditlog: no database")
	}
	if boxID == "" {
		boxID = db.BoxID()
	}
	if boxID != db.BoxID() {
		return nil, fmt.Errorf("auditlog: box id %q is not this database's (%q)", boxID, db.BoxID())
	}
	if err := db.Update(CreateBuckets); err != nil {
		return nil, err
	}
	return &Log{db: db, boxID: boxID, genesis: genesis(boxID), now: time.Now}, nil
}

// Append validates e, writes it at the end of the log and returns it with
// Seq, Time and the hashes set. The entry is on disk (fsynced) when
// Append returns. Concurrent calls share one commit (DB.Batch).
func (l *Log) Append(e Entry) (Entry, error) {
	// Validate before joining a batch: a failing function makes bbolt
	// re-run every other one in the batch alone.
	if _, err := prepare(e, l.now); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := l.db.Batch(func(tx *bbolt.Tx) error {
		// Batch may run this more than once (in a batch that is then
		// rolled back, then alone): everything, the tail hash included,
		// is read from tx each time, and out is overwritten.
		var err error
		out, err = l.AppendTx(tx, e)
		return err
	})
	if err != nil {
		return Entry{}, err
	}
	return out, nil
}

// AppendTx appends e inside the caller's write transaction, so that a
// change to a client's data and its log entry commit (or roll back)
// together. It reads the tail from tx, so it is safe inside DB.Batch.
func (l *Log) AppendTx(tx *bbolt.Tx, e Entry) (Entry, error) {
	if tx == nil || !tx.Writable() {
		return Entry{}, errors.New("auditlog: append needs a writable transaction")
	}
	e, err := prepare(e, l.now)
	if err != nil {
		return Entry{}, err
	}
	bk, err := openBuckets(tx)
	if err != nil {
		return Entry{}, err
	}
	tailSeq, tailHash, ok, err := readTail(bk.meta)
	if err != nil {
		return Entry{}, err
	}
	if !ok {
		tailHash = l.genesis
	}
	seq, err := storage.NextID(bk.entries)
	if err != nil {
		return Entry{}, fmt.Errorf("auditlog: %w", err)
	}
	if seq != tailSeq+1 {
		// Only tampering (or a bug) gets here. Refuse rather than
		// extend a chain whose end is unknown.
		return Entry{}, fmt.Errorf("%w: the recorded end of the log is entry %d but its sequence is at %d", ErrDamaged, tailSeq, seq-1)
	}
	e.Seq = seq
	e.PrevHash = tailHash
	e.Hash = computeHash(&e)

	if err := bk.entries.Put(storage.ID(seq), encodeValue(&e)); err != nil {
		return Entry{}, fmt.Errorf("auditlog: put entry %d: %w", seq, err)
	}
	for _, ix := range bk.indexes() {
		id := ix.idOf(&e)
		if id == 0 {
			continue
		}
		if err := ix.b.Put(indexKey(id, seq), timeValue(e.Time)); err != nil {
			return Entry{}, fmt.Errorf("auditlog: put %s index for entry %d: %w", ix.name, seq, err)
		}
	}
	if err := bk.meta.Put([]byte(keyTail), tailValue(seq, e.Hash)); err != nil {
		return Entry{}, fmt.Errorf("auditlog: put tail: %w", err)
	}
	return e, nil
}

// Count returns the number of entries appended (the last sequence number).
func (l *Log) Count() (int, error) {
	seq, _, err := l.Head()
	return int(seq), err
}

// Head returns the last entry's sequence number and hash (0 and the
// genesis value while the log is empty). Written down or sent away from
// the box, the pair is an anchor: a later Get(seq) must return the same
// hash, which catches even a rewrite of the whole chain.
func (l *Log) Head() (seq uint64, hash [32]byte, err error) {
	err = l.db.View(func(tx *bbolt.Tx) error {
		meta := tx.Bucket([]byte(BucketMeta))
		if meta == nil {
			return errNoBuckets
		}
		s, h, ok, err := readTail(meta)
		if err != nil {
			return err
		}
		if !ok {
			s, h = 0, l.genesis
		}
		seq, hash = s, h
		return nil
	})
	return seq, hash, err
}

// Get returns entry seq; ok is false if there is none.
func (l *Log) Get(seq uint64) (e Entry, ok bool, err error) {
	err = l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte(BucketEntries))
		if b == nil {
			return errNoBuckets
		}
		v := b.Get(storage.ID(seq))
		if v == nil {
			return nil
		}
		e, err = decodeValue(v)
		if err != nil {
			return fmt.Errorf("%w: entry %d cannot be read: %v", ErrDamaged, seq, err)
		}
		ok = true
		return nil
	})
	return e, ok, err
}

var errNoBuckets = errors.New("auditlog: the audit log's buckets are missing (auditlog.New creates them)")

type buckets struct {
	entries, bySubject, byActor, byUnit, meta *bbolt.Bucket
}

func openBuckets(tx *bbolt.Tx) (buckets, error) {
	bk := buckets{
		entries:   tx.Bucket([]byte(BucketEntries)),
		bySubject: tx.Bucket([]byte(BucketBySubject)),
		byActor:   tx.Bucket([]byte(BucketByActor)),
		byUnit:    tx.Bucket([]byte(BucketByUnit)),
		meta:      tx.Bucket([]byte(BucketMeta)),
	}
	if bk.entries == nil || bk.bySubject == nil || bk.byActor == nil || bk.byUnit == nil || bk.meta == nil {
		// Not recreated here: a log whose buckets vanished must not
		// silently start again from entry 1.
		return bk, errNoBuckets
	}
	return bk, nil
}

// index describes one secondary index: which id of an entry it is keyed
// by. An id of 0 is not indexed.
type index struct {
	name string
	b    *bbolt.Bucket
	idOf func(*Entry) uint64
}

func (bk buckets) indexes() []index {
	return []index{
		{BucketBySubject, bk.bySubject, func(e *Entry) uint64 { return e.SubjectID }},
		{BucketByActor, bk.byActor, func(e *Entry) uint64 { return e.ActorID }},
		{BucketByUnit, bk.byUnit, func(e *Entry) uint64 { return e.UnitID }},
	}
}

// indexKey is id(8 BE) || seq(8 BE).
func indexKey(id, seq uint64) []byte {
	k := make([]byte, 0, 16)
	k = binary.BigEndian.AppendUint64(k, id)
	return binary.BigEndian.AppendUint64(k, seq)
}

// timeValue is an index value: the entry's unix nanoseconds (8 BE), so a
// period filter needs no lookup of the entry.
func timeValue(t time.Time) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), uint64(t.UnixNano()))
}

func tailValue(seq uint64, hash [32]byte) []byte {
	v := binary.BigEndian.AppendUint64(make([]byte, 0, 40), seq)
	return append(v, hash[:]...)
}

// readTail reads the recorded end of the log; ok is false when there is
// none (an empty log).
func readTail(meta *bbolt.Bucket) (seq uint64, hash [32]byte, ok bool, err error) {
	v := meta.Get([]byte(keyTail))
	if v == nil {
		return 0, hash, false, nil
	}
	if len(v) != 40 || binary.BigEndian.Uint64(v) == 0 {
		return 0, hash, false, fmt.Errorf("%w: the recorded end of the log is malformed (%d bytes)", ErrDamaged, len(v))
	}
	copy(hash[:], v[8:])
	return binary.BigEndian.Uint64(v), hash, true, nil
}
