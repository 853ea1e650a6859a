package velocity

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/fraud"
)

// Op is one transaction in progress. Begin returns it holding the
// transaction_id's claim; exactly one of Commit or Abort must follow unless
// Duplicate is true, in which case there is nothing to finish.
type Op struct {
	// Features are the card's features with this transaction included.
	Features fraud.Features
	// Late is true when the event time was older than the watermark.
	Late bool
	// Duplicate is true when the transaction_id was seen before; Stored then
	// holds the stored result (JSON) and nothing was counted.
	Duplicate bool
	Stored    []byte
	// StatusUpdated is true for a duplicate that brought a new status, which
	// was applied to the status-dependent features.
	StatusUpdated bool

	s       *Store
	tx      *fraud.Transaction
	cl      *claim
	log     *cardLog
	ev      event
	persist bool
	deletes [][]byte
	done    bool
}

// Entry is an extra key/value written in the same Badger transaction as an
// Op's result, such as an alert outbox record.
type Entry struct {
	Key, Value []byte
}

// Begin claims tx.ID and, unless it was seen before, applies tx to its
// card's state and computes its features. Concurrent calls with the same
// transaction_id wait for the first one and return its stored result as a
// duplicate. It fails only when ctx ends while waiting or the store fails.
// Lateness is judged against the instance's stream time; see BeginStream.
func (s *Store) Begin(ctx context.Context, tx *fraud.Transaction) (*Op, error) {
	return s.BeginStream(ctx, nil, tx)
}

// BeginStream is Begin with lateness judged against the stream time of st
// (a Kafka partition, say) instead of the instance's. Retention always
// follows the instance's stream time, the largest of all.
func (s *Store) BeginStream(ctx context.Context, st *Stream, tx *fraud.Transaction) (*Op, error) {
	cs := s.claimShard(tx.ID)
	for {
		cs.mu.Lock()
		if c, ok := cs.m[tx.ID]; ok {
			cs.mu.Unlock()
			select {
			case <-c.done:
				if c.result != nil {
					if err := conflict(tx, c.card, c.t, c.fp, c.hasFP); err != nil {
						return nil, err
					}
				}
				if c.result != nil && tx.Status == "" {
					return &Op{Duplicate: true, Stored: c.result}, nil
				}
				// The first attempt failed or aborted, or this one may bring
				// a new status to apply: look again.
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		var rec seenRecord
		var found bool
		var err error
		if s.seen.mayContain(tx.ID, s.opt.Now()) {
			rec, found, err = s.lookupSeen(tx.ID)
		}
		if err != nil {
			cs.mu.Unlock()
			return nil, fmt.Errorf("velocity: dedup lookup: %w", err)
		}
		if found {
			if err := conflict(tx, rec.card, rec.t, rec.fp, rec.hasFP); err != nil {
				cs.mu.Unlock()
				return nil, err
			}
		}
		if found && (tx.Status == "" || tx.Status == rec.status) {
			cs.mu.Unlock()
			return &Op{Duplicate: true, Stored: rec.result}, nil
		}
		c := newClaim(tx)
		cs.m[tx.ID] = c
		cs.mu.Unlock()
		if found {
			return s.updateStatus(ctx, tx, c, rec)
		}
		op := &Op{s: s, tx: tx, cl: c}
		if err := op.apply(st); err != nil {
			s.release(tx.ID, c, nil)
			return nil, err
		}
		return op, nil
	}
}

// apply adds the event to the card's log and computes the features.
func (op *Op) apply(st *Stream) error {
	s, tx := op.s, op.tx
	t := eventNanos(tx.EventTime)
	// Stream time follows event time but never runs ahead of the server
	// clock: one client with a clock minutes fast must not make everyone
	// else's live traffic late, or move retention for every card.
	adv := min(t, s.opt.Now().UnixNano())
	prev := advance(&s.streamTime, adv)
	if st != nil {
		prev = advance(&st.time, adv)
	}
	if prev != noTime && t < prev-int64(s.opt.AllowedLateness) {
		op.Late = true
		s.stats.late.Add(1)
	}
	op.ev = event{
		t:        t,
		amount:   tx.Amount,
		txh:      hashString(tx.ID),
		merchant: merchantHash(tx.MerchantID),
		failed:   tx.Status.Failed(),
	}
	sh := s.cardShard(tx.CardID)
	horizon := s.horizon()
	card := tx.CardID
	l, err := s.lockedLog(sh, card)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	l.trimBefore(horizon, true, func(e event) { op.deletes = append(op.deletes, eventKey(card, e.t, e.txh)) })
	if i, dup := l.find(op.ev); dup {
		// Same card, time and transaction_id already counted (its seen
		// record expired): count nothing, answer from the state as it is.
		op.Features = l.compute(s.defs, t, i, make(fraud.Features, 0, len(s.defs)))
		op.log = l
		l.pending++
		return nil
	}
	op.persist = t >= horizon
	if op.persist {
		// Known before its event can reach Badger, so that no load of this
		// card skips events that are there.
		if now := s.opt.Now(); !s.known.mayContain(card, now) {
			s.known.add(card, now)
		}
	}
	if op.persist {
		if over := len(l.events) + 1 - s.opt.MaxEventsPerCard; over > 0 {
			cut := l.events[over-1].t + 1
			n := l.trimBefore(cut, false, func(e event) { op.deletes = append(op.deletes, eventKey(card, e.t, e.txh)) })
			s.stats.truncated.Add(int64(n))
			op.persist = t >= cut
		}
	} else {
		// Too late for the online state: scored, not kept. The batch
		// correction picks it up from the log.
		s.stats.dropped.Add(1)
	}
	i := l.insert(op.ev)
	op.Features = l.compute(s.defs, t, i, make(fraud.Features, 0, len(s.defs)))
	if !op.persist {
		l.removeAt(i)
	}
	op.log = l
	l.pending++
	return nil
}

// lockedLog returns the card's cached log with the shard's lock held,
// loading it from Badger on a miss. Loading happens outside the lock; the
// loaded copy is used only if no other goroutine cached the card meanwhile
// and no card of the shard was evicted (one evicted after committing would
// make the copy stale), else the lookup starts over.
func (s *Store) lockedLog(sh *cardShard, card string) (*cardLog, error) {
	for {
		sh.mu.Lock()
		if l, ok := sh.m[card]; ok {
			return l, nil
		}
		gen := sh.evictions
		sh.mu.Unlock()
		loaded, err := s.load(card)
		if err != nil {
			return nil, fmt.Errorf("velocity: load card: %w", err)
		}
		sh.mu.Lock()
		if l, ok := sh.m[card]; ok {
			return l, nil
		}
		if sh.evictions != gen {
			sh.mu.Unlock()
			continue
		}
		if len(sh.m) >= s.perShard {
			s.evictLocked(sh, 1+s.perShard/64)
		}
		sh.m[card] = loaded
		return loaded, nil
	}
}

// evictLocked drops up to n cards without uncommitted events. Map order is
// random enough for a cache whose misses cost one prefix read.
func (s *Store) evictLocked(sh *cardShard, n int) {
	for k, l := range sh.m {
		if n == 0 {
			return
		}
		if l.pending == 0 {
			delete(sh.m, k)
			sh.evictions++
			s.stats.evictions.Add(1)
			n--
		}
	}
}

// load reads a card's events from Badger. A card the known-cards filter
// has never seen has none: it costs no Badger read.
func (s *Store) load(card string) (*cardLog, error) {
	if !s.known.mayContain(card, s.opt.Now()) {
		return &cardLog{}, nil
	}
	s.stats.loads.Add(1)
	l := &cardLog{}
	prefix := make([]byte, 0, len(card)+2)
	prefix = append(prefix, prefixEvent)
	prefix = append(prefix, card...)
	prefix = append(prefix, 0)
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = prefix
		o.PrefetchValues = true
		o.PrefetchSize = 64
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()[len(prefix):]
			if len(k) != 16 {
				continue
			}
			e := event{
				t:   int64(binary.BigEndian.Uint64(k) ^ signBit),
				txh: binary.BigEndian.Uint64(k[8:]),
			}
			if err := item.Value(func(v []byte) error { return decodeEventValue(v, &e) }); err != nil {
				return err
			}
			l.events = append(l.events, e) // keys sort as (time, txhash): already in order
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// Commit stores the result (the JSON to return for duplicates) together
// with the velocity update and extra entries in one Badger transaction, and
// returns once they are durable in Badger. It releases the claim: later
// duplicates get result. On error nothing of the Op is stored and the card
// is reloaded from Badger on its next use.
func (op *Op) Commit(ctx context.Context, result []byte, extra ...Entry) error {
	if op.Duplicate || op.done {
		return nil
	}
	op.done = true
	s, tx := op.s, op.tx
	req := getReq()
	if op.persist {
		req.add(eventKey(tx.CardID, op.ev.t, op.ev.txh), encodeEventValue(op.ev), 0)
	}
	for _, k := range op.deletes {
		req.del(k)
	}
	req.add(seenKey(tx.ID), encodeSeen(tx, result), s.opt.DedupRetention)
	for _, e := range extra {
		req.add(e.Key, e.Value, 0)
	}
	err := s.submit(req)
	putReq(req)

	sh := s.cardShard(tx.CardID)
	sh.mu.Lock()
	op.log.pending--
	if err != nil && op.persist {
		// Nothing of this op reached Badger: take its event back out of
		// memory, as Abort does. Other ops on the card are unaffected.
		if i, ok := op.log.find(op.ev); ok {
			op.log.removeAt(i)
		}
	}
	sh.mu.Unlock()
	// Even a failed commit may have landed (a lost acknowledgement): the
	// filter's "maybe" only costs a Badger read on a retry.
	s.seen.add(tx.ID, s.opt.Now())
	if err != nil {
		s.release(tx.ID, op.cl, nil)
		return fmt.Errorf("velocity: commit %s: %w", tx.ID, err)
	}
	s.stats.commits.Add(1)
	s.release(tx.ID, op.cl, result)
	return nil
}

// Abort undoes the in-memory update and releases the claim; nothing is
// stored.
func (op *Op) Abort() {
	if op.Duplicate || op.done {
		return
	}
	op.done = true
	s, tx := op.s, op.tx
	sh := s.cardShard(tx.CardID)
	sh.mu.Lock()
	op.log.pending--
	if op.persist {
		if i, ok := op.log.find(op.ev); ok {
			op.log.removeAt(i)
		}
	}
	sh.mu.Unlock()
	s.release(tx.ID, op.cl, nil)
}

// release removes the claim and wakes its waiters, with the stored result
// or nil when the attempt failed.
func (s *Store) release(id string, c *claim, result []byte) {
	c.result = result
	cs := s.claimShard(id)
	cs.mu.Lock()
	delete(cs.m, id)
	cs.mu.Unlock()
	close(c.done)
}

// updateStatus applies a later status of a known transaction to the
// status-dependent features, without counting the transaction again.
func (s *Store) updateStatus(_ context.Context, tx *fraud.Transaction, c *claim, rec seenRecord) (*Op, error) {
	ev := event{t: rec.t, txh: hashString(tx.ID)}
	sh := s.cardShard(rec.card)
	req := getReq()
	defer putReq(req)
	l, err := s.lockedLog(sh, rec.card)
	if err != nil {
		s.release(tx.ID, c, nil)
		return nil, err
	}
	var old bool
	var at = -1
	if i, ok := l.find(ev); ok {
		at = i
		old = l.events[i].failed
		l.events[i].failed = tx.Status.Failed()
		req.add(eventKey(rec.card, ev.t, ev.txh), encodeEventValue(l.events[i]), 0)
	}
	l.pending++
	sh.mu.Unlock()

	rec.status = tx.Status
	req.add(seenKey(tx.ID), encodeSeenRecord(rec), s.opt.DedupRetention)
	err = s.submit(req)

	sh.mu.Lock()
	l.pending--
	if err != nil && at >= 0 {
		if i, ok := l.find(ev); ok {
			l.events[i].failed = old
		}
	}
	sh.mu.Unlock()
	// The record's retention starts again: so must the filter's.
	s.seen.add(tx.ID, s.opt.Now())
	if err != nil {
		s.release(tx.ID, c, nil)
		return nil, fmt.Errorf("velocity: status update %s: %w", tx.ID, err)
	}
	s.release(tx.ID, c, rec.result)
	return &Op{Duplicate: true, Stored: rec.result, StatusUpdated: true}, nil
}

// Lookup returns the stored result of a transaction_id, if it was seen.
func (s *Store) Lookup(id string) ([]byte, bool, error) {
	rec, ok, err := s.lookupSeen(id)
	return rec.result, ok, err
}

// FeaturesAt returns a card's features as of at, windows (at-W, at], not
// counting any new event.
func (s *Store) FeaturesAt(ctx context.Context, card string, at time.Time) (fraud.Features, error) {
	sh := s.cardShard(card)
	sh.mu.Lock()
	l, ok := sh.m[card]
	sh.mu.Unlock()
	if !ok {
		var err error
		if l, err = s.load(card); err != nil {
			return nil, fmt.Errorf("velocity: load card: %w", err)
		}
		// Not cached: a read must not evict hot cards.
		return l.compute(s.defs, eventNanos(at), -1, make(fraud.Features, 0, len(s.defs))), nil
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return l.compute(s.defs, eventNanos(at), -1, make(fraud.Features, 0, len(s.defs))), nil
}

func (s *Store) lookupSeen(id string) (seenRecord, bool, error) {
	var rec seenRecord
	found := false
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(seenKey(id))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		found = true
		return item.Value(func(v []byte) error {
			var err error
			rec, err = decodeSeen(v)
			return err
		})
	})
	return rec, found, err
}

const signBit = 1 << 63

func eventKey(card string, t int64, txh uint64) []byte {
	k := make([]byte, 0, len(card)+18)
	k = append(k, prefixEvent)
	k = append(k, card...)
	k = append(k, 0)
	k = binary.BigEndian.AppendUint64(k, uint64(t)^signBit)
	return binary.BigEndian.AppendUint64(k, txh)
}

func seenKey(id string) []byte {
	k := make([]byte, 0, len(id)+1)
	k = append(k, prefixSeen)
	return append(k, id...)
}

func encodeEventValue(e event) []byte {
	v := make([]byte, 0, 16)
	v = binary.AppendVarint(v, e.amount)
	var flags byte
	if e.failed {
		flags |= 1
	}
	v = append(v, flags)
	return binary.BigEndian.AppendUint32(v, e.merchant)
}

var errCorrupt = errors.New("corrupt record")

func decodeEventValue(v []byte, e *event) error {
	amount, n := binary.Varint(v)
	if n <= 0 || len(v) != n+5 {
		return errCorrupt
	}
	e.amount = amount
	e.failed = v[n]&1 != 0
	e.merchant = binary.BigEndian.Uint32(v[n+1:])
	return nil
}

// Write stores puts and deletes in one Badger transaction through the
// group committer, for other state kept beside the velocity state (the
// alert outbox). It returns once they are in Badger.
func (s *Store) Write(ctx context.Context, puts []Entry, deletes [][]byte) error {
	req := getReq()
	defer putReq(req)
	for _, e := range puts {
		req.add(e.Key, e.Value, 0)
	}
	for _, k := range deletes {
		req.del(k)
	}
	return s.submit(req)
}

// Revision replaces the stored result of a transaction already counted,
// such as a provisional answer given when the budget ran out, without
// counting the transaction again. It holds the transaction_id's claim:
// exactly one of Commit or Abort must follow.
type Revision struct {
	// Stored is the result stored now (it may have been revised by an
	// earlier caller since the duplicate that led here was read).
	Stored []byte

	s    *Store
	tx   *fraud.Transaction
	cl   *claim
	rec  seenRecord
	done bool
}

// Revise claims tx.ID, which must be stored already, for a Revision. It
// waits for an attempt in progress with the same id, returns a
// *ConflictError when tx differs from the stored transaction, and returns
// nil and no error when the id is no longer stored (its retention ended).
func (s *Store) Revise(ctx context.Context, tx *fraud.Transaction) (*Revision, error) {
	cs := s.claimShard(tx.ID)
	for {
		cs.mu.Lock()
		if c, ok := cs.m[tx.ID]; ok {
			cs.mu.Unlock()
			select {
			case <-c.done:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		rec, found, err := s.lookupSeen(tx.ID)
		if err != nil {
			cs.mu.Unlock()
			return nil, fmt.Errorf("velocity: dedup lookup: %w", err)
		}
		if !found {
			cs.mu.Unlock()
			return nil, nil
		}
		if err := conflict(tx, rec.card, rec.t, rec.fp, rec.hasFP); err != nil {
			cs.mu.Unlock()
			return nil, err
		}
		c := newClaim(tx)
		cs.m[tx.ID] = c
		cs.mu.Unlock()
		return &Revision{Stored: rec.result, s: s, tx: tx, cl: c, rec: rec}, nil
	}
}

// Commit stores result in place of the stored one, with extra entries (an
// alert now raised) in the same Badger transaction, and releases the
// claim. The record keeps its status, event time and fingerprint; its
// retention starts again.
func (r *Revision) Commit(ctx context.Context, result []byte, extra ...Entry) error {
	if r.done {
		return nil
	}
	r.done = true
	rec := r.rec
	rec.result = result
	req := getReq()
	req.add(seenKey(r.tx.ID), encodeSeenRecord(rec), r.s.opt.DedupRetention)
	for _, e := range extra {
		req.add(e.Key, e.Value, 0)
	}
	err := r.s.submit(req)
	putReq(req)
	r.s.seen.add(r.tx.ID, r.s.opt.Now())
	if err != nil {
		r.s.release(r.tx.ID, r.cl, nil)
		return fmt.Errorf("velocity: revise %s: %w", r.tx.ID, err)
	}
	r.s.release(r.tx.ID, r.cl, result)
	return nil
}

// Abort releases the claim and leaves the stored result as it is.
func (r *Revision) Abort() {
	if r.done {
		return
	}
	r.done = true
	r.s.release(r.tx.ID, r.cl, nil)
}
