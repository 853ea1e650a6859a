package velocity

import (
	"context"
	"fmt"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

// Op is one transaction in progress. Begin returns it holding the
// transaction_id's claim; exactly one of Commit or Abort must follow unless
// Duplicate is true, in which case there is nothing to finish.
type Op struct {
	// Features are the transaction's features, with it included.
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

	s          *Store
	tx         *fraud.Transaction
	cl         *claim
	parts      []opPart // one per entity of the transaction
	deletes    [][]byte
	windows    [][]byte // windows to close, see windowKey
	excluded   [][]byte // closed windows to leave the event out of, see excludedKey
	lateWindow bool     // the event came for a window already closed
	done       bool
}

// opPart is what an Op did to one entity's log.
type opPart struct {
	key     string // the entity key (see entityKey)
	log     *entityLog
	ev      features.Event
	persist bool // the event is new and kept
	dup     bool // the event was in the log already
}

// Entry is an extra key/value written in the same Badger transaction as an
// Op's result, such as an alert outbox record.
type Entry = kv.Entry

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
	for {
		cs, prev, err := s.lockClaims(ctx, tx.ID)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			if prev.result != nil {
				if err := conflict(tx, prev.card, prev.t, prev.fp, prev.hasFP); err != nil {
					return nil, err
				}
			}
			if prev.result != nil && tx.Status == "" {
				return &Op{Duplicate: true, Stored: prev.result}, nil
			}
			// The first attempt failed or aborted, or this one may bring
			// a new status to apply: look again.
			continue
		}
		var rec seenRecord
		var found bool
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

// apply adds the event to the log of each of the transaction's entities
// and computes its features.
func (op *Op) apply(st *Stream) error {
	s, tx := op.s, op.tx
	t := eventNanos(tx.EventTime)
	// Stream time follows event time but never runs ahead of the server
	// clock: one client with a clock minutes fast must not make everyone
	// else's live traffic late, or move retention for every card.
	adv := min(t, s.opt.Now().UnixNano())
	prev := advance(&s.streamTime, adv)
	stream := uint16(instanceStream)
	if st != nil {
		prev = advance(&st.time, adv)
		stream = st.id
	}
	if prev != noTime && t < prev-int64(s.opt.AllowedLateness) {
		op.Late = true
		s.stats.late.Add(1)
	}
	set := s.set
	vals := make([]float64, set.Len())
	mask := set.Mask(tx)
	horizon := s.horizon()
	dropped := false
	for e := range set.Entities() {
		key, ok := s.entityKey(e, tx)
		if !ok {
			set.Empty(e, vals)
			continue
		}
		part := opPart{key: key, ev: set.Event(e, tx, mask, t)}
		if err := op.applyEntity(e, &part, horizon, vals); err != nil {
			op.undo()
			return err
		}
		if !part.persist && !part.dup {
			dropped = true
		}
		op.parts = append(op.parts, part)
		if part.persist && s.getEmitter() != nil {
			if s.windowEntries(e, key, stream, t, prev, part.ev.TxH,
				func(k []byte) { op.windows = append(op.windows, k) },
				func(k []byte) { op.excluded = append(op.excluded, k) }) {
				op.lateWindow = true
			}
		}
	}
	if dropped && t < horizon {
		// Too late for the online state: scored, not kept. The batch
		// correction picks it up from the log.
		s.stats.dropped.Add(1)
	}
	set.Stateless(tx, vals)
	op.Features = set.Named(vals)
	return nil
}

// applyEntity adds part's event to entity e's log and computes its
// features into vals.
func (op *Op) applyEntity(e int, part *opPart, horizon int64, vals []float64) error {
	s := op.s
	sh := s.entityShard(part.key)
	l, err := s.lockedLog(sh, part.key)
	if err != nil {
		return err
	}
	defer sh.mu.Unlock()
	key := part.key
	l.TrimBefore(horizon, true, func(ev features.Event) { op.deletes = append(op.deletes, eventKey(key, ev.T, ev.TxH)) })
	part.log = l
	t := part.ev.T
	if i, dup := l.Find(part.ev); dup {
		// Same entity, time and transaction_id already counted (its seen
		// record expired): count nothing, answer from the state as it is.
		l.Compute(s.set, e, t, i, vals)
		l.pending++
		part.dup = true
		return nil
	}
	part.persist = t >= horizon
	if part.persist {
		// Known before its event can reach Badger, so that no load of this
		// entity skips events that are there.
		if now := s.opt.Now(); !s.known.mayContain(key, now) {
			s.known.add(key, now)
		}
		if over := len(l.Events) + 1 - s.opt.MaxEventsPerCard; over > 0 {
			cut := l.Events[over-1].T + 1
			n := l.TrimBefore(cut, false, func(ev features.Event) { op.deletes = append(op.deletes, eventKey(key, ev.T, ev.TxH)) })
			s.stats.truncated.Add(int64(n))
			part.persist = t >= cut
		}
	}
	i := l.Insert(part.ev)
	l.Compute(s.set, e, t, i, vals)
	if !part.persist {
		l.RemoveAt(i)
	}
	l.pending++
	return nil
}

// undo takes the events of an Op that will not be committed back out of
// memory.
func (op *Op) undo() {
	for _, p := range op.parts {
		sh := op.s.entityShard(p.key)
		sh.mu.Lock()
		p.log.pending--
		if p.persist {
			if i, ok := p.log.Find(p.ev); ok {
				p.log.RemoveAt(i)
			}
		}
		sh.mu.Unlock()
	}
	op.parts = nil
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
	req := kv.NewBatch()
	for _, p := range op.parts {
		if p.persist {
			req.Set(eventKey(p.key, p.ev.T, p.ev.TxH), encodeEventValue(p.ev), 0)
		}
	}
	for _, k := range op.deletes {
		req.Delete(k)
	}
	for _, k := range op.windows {
		req.Set(k, nil, 0)
	}
	for _, k := range op.excluded {
		req.Set(k, nil, 24*time.Hour)
	}
	var late []Entry
	em := s.getEmitter()
	if op.lateWindow && em != nil {
		late = []Entry{em.LateEvent(tx)}
		req.Set(late[0].Key, late[0].Value, 0)
	}
	req.Set(seenKey(tx.ID), encodeSeen(tx, result), s.opt.DedupRetention)
	for _, e := range extra {
		req.Set(e.Key, e.Value, 0)
	}
	err := s.kv.Commit(req)
	req.Release()
	if err == nil && late != nil {
		s.stats.lateForWindow.Add(1)
		em.Committed(late)
	}

	if err != nil {
		// Nothing of this op reached Badger: take its events back out of
		// memory, as Abort does. Other ops on the entities are unaffected.
		op.undo()
	} else {
		for _, p := range op.parts {
			s.settle(p.key, p.log)
		}
	}
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
	op.undo()
	op.s.release(op.tx.ID, op.cl, nil)
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

// lockClaims returns the claims shard of id locked, when no attempt with
// id is in progress. Otherwise it waits, unlocked, until that attempt
// releases its claim (unless ctx ends first) and returns the claim, done,
// for the caller to look at its outcome and try again.
func (s *Store) lockClaims(ctx context.Context, id string) (*claimShard, *claim, error) {
	cs := s.claimShard(id)
	cs.mu.Lock()
	c, ok := cs.m[id]
	if !ok {
		return cs, nil, nil
	}
	c.waits.Add(1)
	cs.mu.Unlock()
	select {
	case <-c.done:
		return nil, c, nil
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// settle tells entity key's log l that the commit of one of its pending
// events has finished, whether it succeeded or not.
func (s *Store) settle(key string, l *entityLog) {
	sh := s.entityShard(key)
	sh.mu.Lock()
	l.pending--
	sh.mu.Unlock()
}
