// Package rooms keeps the clinic's rooms: who takes part in each, and its
// timeline of messages, attachments, meeting-log entries (written by the
// video capability) and system events, with read state per participant
// and a live feed of changes.
//
// Staff create a room for a unit and become its host; host and co-hosts
// invite clients, relatives and colleagues. Only participants see a room:
// for anyone else every call answers ErrNotFound, the same as for a room
// that does not exist. A staff member or admin who opens (Timeline) a
// room with clients or relatives in it leaves one access-log entry per
// such participant (action "room.read"; "attachment.read" for a
// download through Attachment).
//
// # Personal content and erasure
//
// Room titles, message text and attachment names and types are sealed
// with the room's own data key, key-store subject "room:<id>"
// (storage/keystore; aad "title" for the title, "event" for an event's
// body). Delete removes the room's records and erases that key, so
// whatever bbolt leaves in its free pages, and every snapshot of the
// file, is noise at once (crypto-shredding). Only the content-free
// activity log stays (which user ids were active in the room on which
// day), for the retention rules; PruneActivity removes it when they say.
//
// # Buckets (storage migration 6)
//
//	clinicbox.db
//	├── rooms          room id (8)                  → roomRecord: unit, status, creator, created,
//	│                                                 inactivated, title sealed ("title"); written
//	│                                                 only when the status changes (the newest event
//	│                                                 and last activity are read from room-events)
//	│                  the bucket's sequence is the last room id (ids are never reused)
//	├── room-members   room id (8) || user id (8)   → memberRecord: role (host|cohost|participant),
//	│                                                 identity role, joined, last read event id
//	├── user-rooms     user id (8) || room id (8)   → empty: a user's rooms (List, EventsSince)
//	├── room-events    room id (8) || event id (8)  → eventRecord: kind, author, time, code,
//	│                                                 subject, by, attachment id and size in
//	│                                                 clear; text / attachment name+type sealed
//	│                                                 as JSON ("event")
//	├── room-activity  room id (8) || TimeKey(day, user id) (16) → empty: the user did something
//	│                                                 in the room that day (UTC): wrote, joined a
//	│                                                 meeting, invited... (not reading); kept after
//	│                                                 Delete; PruneActivity ages it out
//	├── attachments    attachment id (its bytes)    → metadata, owned by rooms/attachments;
//	│                                                 Delete removes the room's entries
//	└── events-seq     no keys: its sequence (NextSequence) numbers every event of every
//	                   room, so an event id is a resume cursor across all rooms
//
// Event ids come from one sequence and are allocated inside the
// transaction that stores the event; a transaction that rolls back rolls
// the sequence back with it. Committed event ids are therefore exactly
// 1, 2, 3, ... in commit order, which is what lets the live feed deliver
// them strictly in order (see below). Deleted rooms leave holes in what
// is stored, never in what was committed.
//
// Messages, attachments, meeting-log entries and read marks go through
// DB.Batch (group commit: concurrent senders share one fsync) and are
// durable before the call returns; membership and lifecycle changes,
// which are rare, through DB.Update. Batch may run a function twice:
// every function here reads all it needs from the transaction and
// overwrites its outputs, and what can be done before (sealing,
// encoding, the permission check) is done before, so that writers spend
// as little time as possible inside the shared transaction.
//
// # Live updates and resuming
//
// After a commit, each new event is handed to the room's members'
// subscriptions (Subscribe), strictly in event-id order across all rooms;
// read receipts and "you no longer see room X" follow their own commits.
// A subscription is a buffered channel; a subscriber that falls behind is
// dropped (its channel closed) instead of slowing writers. The live
// connection then works like this, and loses nothing and repeats nothing:
//
//  1. Subscribe (first, so nothing committed from now on is missed).
//  2. EventsSince(last id the browser saw), page after page until a page
//     comes back empty; send them, remember the highest id sent.
//  3. Send live updates; skip events whose id is not above the highest
//     id sent (the catch-up already had them).
//  4. If the channel closes, tell the browser to reconnect: it starts
//     again at 1 with its last id.
//
// One Store per database: the live feed's ordering assumes this Store
// numbers every event (a second Store on the same file would make the
// first wait up to a second for ids it never sees).
package rooms
