// Package alerts turns review and decline decisions into alerts on Kafka,
// once each: an alert is written to a durable outbox in Badger in the same
// transaction as its result, and a Relay publishes the outbox to the alerts
// topic behind a circuit breaker, deleting what the brokers acknowledged.
package alerts

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

// prefix keys the outbox: o <created:8> <alert_id> -> record. Keys sort by
// creation time, so the relay publishes in about the order of decisions.
const prefix = 'o'

// Outbox is the durable queue of alerts not yet acknowledged by Kafka. It
// implements scoring.Outbox.
//
// The relay reads it from a cursor: every key at or below the cursor has
// been published and deleted, so a read seeks past them rather than walking
// their tombstones (which, walked on every poll, made the relay's cost grow
// with every alert ever sent). Keys sort by creation time, but an alert
// created before the cursor can be committed after it passed (commits land
// out of order); Committed hands such stragglers to the relay in memory.
type Outbox struct {
	db     *badger.DB
	store  *velocity.Store
	now    func() time.Time
	notify chan struct{}
	depth  atomic.Int64

	mu         sync.Mutex
	cursor     []byte   // published up to here, inclusive; nil before the first read
	scanning   bool     // a read from the cursor is in progress
	stragglers [][]byte // committed keys the cursor may have passed
}

// NewOutbox opens the outbox kept in db, written through store. It counts
// the alerts left from an earlier run.
func NewOutbox(db *badger.DB, store *velocity.Store) (*Outbox, error) {
	o := &Outbox{db: db, store: store, now: time.Now, notify: make(chan struct{}, 1)}
	n := 0
	err := db.View(func(txn *badger.Txn) error {
		opt := badger.DefaultIteratorOptions
		opt.PrefetchValues = false
		opt.Prefix = []byte{prefix}
		it := txn.NewIterator(opt)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			n++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("alerts: count outbox: %w", err)
	}
	o.depth.Store(int64(n))
	return o, nil
}

// Depth is the number of alerts waiting to be published.
func (o *Outbox) Depth() int64 { return o.depth.Load() }

// Build returns the alert for an alerting result.
func Build(tx *fraud.Transaction, r *fraud.Result, now time.Time) fraud.Alert {
	return fraud.Alert{
		AlertID:       fraud.AlertID(tx.ID),
		TransactionID: tx.ID,
		CardID:        tx.CardID,
		Score:         r.Score,
		Decision:      r.Decision,
		Reasons:       r.Reasons,
		Features:      r.Features,
		ModelVersion:  r.ModelVersion,
		EventTime:     tx.EventTime,
		CreatedAt:     now.UTC(),
	}
}

// Entries returns the outbox record for r, to be committed with it.
func (o *Outbox) Entries(ctx context.Context, tx *fraud.Transaction, r *fraud.Result) ([]velocity.Entry, error) {
	now := o.now()
	a := Build(tx, r, now)
	body, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	rec := record{alertID: a.AlertID, txID: tx.ID, cardID: tx.CardID, traceparent: traceparent(ctx), created: now.UnixNano(), value: body}
	return []velocity.Entry{{Key: rec.key(), Value: rec.encode()}}, nil
}

// Committed is told the entries (from Entries) once they are in Badger. It
// wakes the relay, and keeps the keys that the relay's cursor may already
// have passed.
func (o *Outbox) Committed(entries []velocity.Entry) {
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
	alertID, txID, cardID, traceparent string
	created                            int64
	value                              []byte // the alert JSON
	k                                  []byte
	scanned                            bool // read from the cursor, not a straggler
}

func (r *record) key() []byte {
	k := make([]byte, 0, 9+len(r.alertID))
	k = append(k, prefix)
	k = binary.BigEndian.AppendUint64(k, uint64(r.created))
	return append(k, r.alertID...)
}

func (r *record) encode() []byte {
	b := make([]byte, 0, 16+len(r.txID)+len(r.cardID)+len(r.traceparent)+len(r.value))
	b = append(b, 1)
	for _, s := range []string{r.txID, r.cardID, r.traceparent} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	return append(b, r.value...)
}

var errCorrupt = errors.New("alerts: corrupt outbox record")

func decodeRecord(k, v []byte) (record, error) {
	if len(k) < 9 || k[0] != prefix || len(v) < 1 || v[0] != 1 {
		return record{}, errCorrupt
	}
	r := record{created: int64(binary.BigEndian.Uint64(k[1:9])), alertID: string(k[9:]), k: append([]byte(nil), k...)}
	v = v[1:]
	var parts [3]string
	for i := range parts {
		n, m := binary.Uvarint(v)
		if m <= 0 || uint64(len(v)-m) < n {
			return record{}, errCorrupt
		}
		parts[i] = string(v[m : m+int(n)])
		v = v[m+int(n):]
	}
	r.txID, r.cardID, r.traceparent = parts[0], parts[1], parts[2]
	r.value = append([]byte(nil), v...)
	return r, nil
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
		opt.Prefix = []byte{prefix}
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

// traceparentKey is how a caller puts a W3C traceparent on the context for
// the outbox to carry into the Kafka headers.
type traceparentKey struct{}

// WithTraceparent returns ctx carrying a W3C traceparent value.
func WithTraceparent(ctx context.Context, tp string) context.Context {
	return context.WithValue(ctx, traceparentKey{}, tp)
}

// traceparent is the W3C trace context of ctx's span (or one set with
// WithTraceparent), so that alert consumers can join the trace.
func traceparent(ctx context.Context) string {
	if tp, ok := ctx.Value(traceparentKey{}).(string); ok {
		return tp
	}
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}
