// Package outbox publishes messages to Kafka once each, from a durable
// queue in Badger: a message is written to the outbox in the same Badger
// transaction as the state it belongs to (a result and its alert, a closed
// window), and a Relay publishes the outbox to a topic behind a circuit
// breaker, deleting what the brokers acknowledged, and checking the
// topic's tail for what an interrupted publish may already have put there.
//
//	ob, err := outbox.Open(db, store, kv.PrefixAlerts)
//	entry := ob.Entry(outbox.Message{ID: id, Key: key, Value: v})
//	err = store.Write(ctx, []kv.Entry{entry}, nil)
//	ob.Committed([]kv.Entry{entry})
//	go outbox.NewRelay(ob, outbox.RelayConfig{Kafka: cluster, Topic: "fraud.alerts", IDHeader: "alert_id"}).Run(ctx)
package outbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/segmentio/kafka-go"

	"github.com/fraudscore/scorer/kv"
)

// Message is one message to publish.
type Message struct {
	// ID identifies the message, whatever the retries: it goes into the
	// relay's IDHeader, by which an interrupted publish is recognised on
	// the topic. It must be unique within the outbox.
	ID      string
	Key     []byte
	Value   []byte
	Headers []kafka.Header // besides the ID header
}

// Writer writes puts and deletes in one Badger transaction, returning once
// they are in Badger: the velocity.Store, through the group committer that
// every write to the DB goes through.
type Writer interface {
	Write(ctx context.Context, puts []kv.Entry, deletes [][]byte) error
}

// Outbox is a durable queue of messages not yet acknowledged by Kafka,
// under one key prefix: <prefix> <created:8> <id> -> record. Keys sort by
// creation time, so the relay publishes in about the order of creation.
//
// The relay reads it from a cursor: every key at or below the cursor has
// been published and deleted, so a read seeks past them rather than walking
// their tombstones (which, walked on every poll, made the relay's cost grow
// with every alert ever sent). Keys sort by creation time, but an alert
// created before the cursor can be committed after it passed (commits land
// out of order); Committed hands such stragglers to the relay in memory.
type Outbox struct {
	db     *badger.DB
	store  Writer
	prefix byte
	now    func() time.Time
	notify chan struct{}
	depth  atomic.Int64

	mu         sync.Mutex
	cursor     []byte   // published up to here, inclusive; nil before the first read
	scanning   bool     // a read from the cursor is in progress
	stragglers [][]byte // committed keys the cursor may have passed
}

// Open opens the outbox under prefix (one of package kv's) in db, written
// through store. It counts the messages left from an earlier run.
func Open(db *badger.DB, store Writer, prefix byte) (*Outbox, error) {
	o := &Outbox{db: db, store: store, prefix: prefix, now: time.Now, notify: make(chan struct{}, 1)}
	n := 0
	for _, err := range kv.Keys(db, []byte{prefix}) {
		if err != nil {
			return nil, fmt.Errorf("outbox %c: count: %w", prefix, err)
		}
		n++
	}
	o.depth.Store(int64(n))
	return o, nil
}

// Depth is the number of messages waiting to be published.
func (o *Outbox) Depth() int64 { return o.depth.Load() }

// Entry returns the outbox entry of m, to be written (velocity.Store.Write,
// or with an Op's Commit) and then told to Committed.
func (o *Outbox) Entry(m Message) kv.Entry {
	rec := record{id: m.ID, key: m.Key, headers: m.Headers, value: m.Value, created: o.now().UnixNano()}
	return kv.Entry{Key: rec.keyIn(o.prefix), Value: rec.encode()}
}

// Committed is told the entries (from Entries) once they are in Badger. It
// wakes the relay, and keeps the keys that the relay's cursor may already
// have passed.
func (o *Outbox) Committed(entries []kv.Entry) {
	o.depth.Add(int64(len(entries)))
	o.mu.Lock()
	for _, e := range entries {
		if o.scanning || (o.cursor != nil && bytes.Compare(e.Key, o.cursor) <= 0) {
			o.stragglers = append(o.stragglers, e.Key)
		}
	}
	o.mu.Unlock()
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// record is one outbox entry.
type record struct {
	id      string
	key     []byte
	headers []kafka.Header
	value   []byte
	created int64
	k       []byte
	scanned bool // read from the cursor, not a straggler
}

func (r *record) keyIn(prefix byte) []byte {
	k := make([]byte, 0, 9+len(r.id))
	k = append(k, prefix)
	k = binary.BigEndian.AppendUint64(k, uint64(r.created))
	return append(k, r.id...)
}

// Record layouts. Version 1, the alerts' before this package, is still
// read: transaction id, card id and traceparent, then the alert JSON.
//
//	v2: 2, id, key, header count, (name, value)..., value   (each length-prefixed but the last)
const (
	recordV1 = 1
	recordV2 = 2
)

func (r *record) encode() []byte {
	n := 16 + len(r.id) + len(r.key) + len(r.value)
	for _, h := range r.headers {
		n += 4 + len(h.Key) + len(h.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, recordV2)
	b = appendBytes(b, []byte(r.id))
	b = appendBytes(b, r.key)
	b = binary.AppendUvarint(b, uint64(len(r.headers)))
	for _, h := range r.headers {
		b = appendBytes(b, []byte(h.Key))
		b = appendBytes(b, h.Value)
	}
	return append(b, r.value...)
}

func appendBytes(b, s []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errCorrupt = errors.New("outbox: corrupt record")

func decodeRecord(k, v []byte) (record, error) {
	if len(k) < 9 || len(v) < 1 {
		return record{}, errCorrupt
	}
	r := record{created: int64(binary.BigEndian.Uint64(k[1:9])), k: append([]byte(nil), k...)}
	d := byteReader{b: v[1:]}
	switch v[0] {
	case recordV1:
		r.id = string(k[9:])
		txID, cardID, tp := d.next(), d.next(), d.next()
		r.key = cardID
		r.headers = []kafka.Header{{Key: "transaction_id", Value: txID}, {Key: "content-type", Value: []byte("application/json")}}
		if len(tp) > 0 {
			r.headers = append(r.headers, kafka.Header{Key: "traceparent", Value: tp})
		}
	case recordV2:
		r.id = string(d.next())
		r.key = d.next()
		n, m := binary.Uvarint(d.b)
		if m <= 0 || n > uint64(len(d.b)) {
			return record{}, errCorrupt
		}
		d.b = d.b[m:]
		for range n {
			r.headers = append(r.headers, kafka.Header{Key: string(d.next()), Value: d.next()})
		}
	default:
		return record{}, errCorrupt
	}
	if d.bad {
		return record{}, errCorrupt
	}
	r.value = append([]byte(nil), d.b...)
	return r, nil
}

type byteReader struct {
	b   []byte
	bad bool
}

// next reads one length-prefixed byte string (a copy).
func (d *byteReader) next() []byte {
	n, m := binary.Uvarint(d.b)
	if m <= 0 || uint64(len(d.b)-m) < n {
		d.bad = true
		d.b = nil
		return nil
	}
	s := append([]byte(nil), d.b[m:m+int(n)]...)
	d.b = d.b[m+int(n):]
	return s
}

// header returns the value of the named header of r.
func (r *record) header(name string) string {
	for _, h := range r.headers {
		if h.Key == name {
			return string(h.Value)
		}
	}
	return ""
}

// next reads up to n records: the stragglers still in Badger first, then
// the records past the cursor in key order. finish must follow.
func (o *Outbox) next(n int) ([]record, error) {
	o.mu.Lock()
	o.scanning = true
	from := o.cursor
	stragglers := o.stragglers[:min(len(o.stragglers), n)]
	o.mu.Unlock()
	var out []record
	var gone [][]byte // stragglers no longer in Badger
	seen := make(map[string]bool, len(stragglers))
	err := o.db.View(func(txn *badger.Txn) error {
		for _, k := range stragglers {
			if seen[string(k)] {
				continue
			}
			seen[string(k)] = true
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				// Published already by a read from the cursor (the relay
				// was faster than the scoring that called Committed).
				gone = append(gone, k)
				continue
			}
			if err != nil {
				return err
			}
			r, err := readRecord(item)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		opt := badger.DefaultIteratorOptions
		opt.Prefix = []byte{o.prefix}
		opt.PrefetchSize = n
		it := txn.NewIterator(opt)
		defer it.Close()
		if from == nil {
			it.Rewind()
		} else {
			it.Seek(from)
			if it.Valid() && bytes.Equal(it.Item().Key(), from) {
				it.Next()
			}
		}
		for ; it.Valid() && len(out) < n; it.Next() {
			if seen[string(it.Item().Key())] {
				continue // a straggler committed while the last read ran
			}
			r, err := readRecord(it.Item())
			if err != nil {
				return err
			}
			r.scanned = true
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		o.finish(nil, nil)
		return nil, err
	}
	if len(gone) > 0 {
		o.mu.Lock()
		o.dropStragglers(gone)
		o.mu.Unlock()
	}
	return out, nil
}

func readRecord(item *badger.Item) (record, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return record{}, err
	}
	return decodeRecord(item.Key(), v)
}

// finish ends a read: read are the records next returned, done those of
// them now deleted (published, or found on the topic already). The cursor
// moves over the records read from it, in key order, up to the first one
// not done: one left behind (a publish that failed) is read again. The
// stragglers done are forgotten.
func (o *Outbox) finish(read, done []record) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.scanning = false
	if len(done) == 0 {
		return
	}
	finished := make(map[string]bool, len(done))
	for _, r := range done {
		finished[string(r.k)] = true
	}
	for _, r := range read {
		if !r.scanned {
			continue
		}
		if !finished[string(r.k)] {
			break
		}
		o.cursor = r.k
	}
	var keys [][]byte
	for _, r := range done {
		if !r.scanned {
			keys = append(keys, r.k)
		}
	}
	o.dropStragglers(keys)
}

// dropStragglers forgets the given straggler keys; o.mu is held.
func (o *Outbox) dropStragglers(keys [][]byte) {
	if len(keys) == 0 || len(o.stragglers) == 0 {
		return
	}
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[string(k)] = true
	}
	keep := o.stragglers[:0]
	for _, k := range o.stragglers {
		if !drop[string(k)] {
			keep = append(keep, k)
		}
	}
	clear(o.stragglers[len(keep):])
	o.stragglers = keep
}

// remove deletes published records.
func (o *Outbox) remove(ctx context.Context, recs []record) error {
	keys := make([][]byte, len(recs))
	for i := range recs {
		keys[i] = recs[i].k
	}
	if err := o.store.Write(ctx, nil, keys); err != nil {
		return err
	}
	o.depth.Add(-int64(len(recs)))
	return nil
}
