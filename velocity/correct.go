package velocity

import (
	"context"
	"fmt"
	"slices"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

// Correction is what Correct changed.
type Correction struct {
	Entities int // entities whose log was compared
	Added    int // events the log had and the online state did not
	Removed  int // events the online state had and the log did not
}

// Correct makes the online state of the entities of txs agree with txs
// (the batch's log of the span), for events at or after from: each such
// entity's events in [from, now] become exactly those of txs (each
// transaction_id once), and its events before from stay as they are. It
// is the nightly correction of what late events made wrong (events that
// came beyond retention were scored but not kept), safe while the service
// runs (each entity is changed under its lock, in one Badger commit) and
// idempotent: a second run with the same log changes nothing. Stored
// results and emitted windows are history and stay as they were. Events
// older than retention (the horizon) are neither added nor removed, when
// from is older still: online keeps the newest of them as an anchor, as
// the batch does.
func (s *Store) Correct(ctx context.Context, from int64, txs []*fraud.Transaction) (Correction, error) {
	set := s.set
	byKey := map[string][]features.Event{}
	var order []string
	var ents []int
	seen := map[string]bool{}
	for _, tx := range txs {
		if seen[tx.ID] {
			continue
		}
		seen[tx.ID] = true
		t := eventNanos(tx.EventTime)
		if t < from {
			continue
		}
		mask := set.Mask(tx)
		for e := range set.Entities() {
			key, ok := s.entityKey(e, tx)
			if !ok {
				continue
			}
			if _, ok := byKey[key]; !ok {
				order = append(order, key)
				ents = append(ents, e)
			}
			byKey[key] = append(byKey[key], set.Event(e, tx, mask, t))
		}
	}
	var c Correction
	horizon := s.horizon()
	for _, key := range order {
		if err := ctx.Err(); err != nil {
			return c, err
		}
		want := byKey[key]
		slices.SortFunc(want, compareEvents)
		// Events past retention stay as online left them: it keeps the
		// newest of them as the anchor of seconds_since_prev, and so does
		// the batch; taking them out would lose the anchor.
		added, removed, err := s.correctEntity(key, max(horizon, from), want)
		if err != nil {
			return c, fmt.Errorf("velocity: correct %s: %w", entityName(key), err)
		}
		c.Entities++
		c.Added += added
		c.Removed += removed
	}
	return c, nil
}

// correctEntity replaces the events of one entity at or after from with
// those of want (sorted) at or after from.
func (s *Store) correctEntity(key string, from int64, want []features.Event) (added, removed int, err error) {
	sh := s.entityShard(key)
	l, err := s.lockedLog(sh, key)
	if err != nil {
		return 0, 0, err
	}
	defer sh.mu.Unlock()
	next := make([]features.Event, 0, len(l.Events)+len(want))
	has := map[[2]uint64]bool{}
	for _, e := range l.Events {
		if e.T < from {
			next = append(next, e)
		} else {
			has[[2]uint64{uint64(e.T), e.TxH}] = true
		}
	}
	req := kv.NewBatch()
	defer req.Release()
	wanted := map[[2]uint64]bool{}
	for _, e := range want {
		if e.T < from {
			continue
		}
		id := [2]uint64{uint64(e.T), e.TxH}
		if wanted[id] {
			continue
		}
		wanted[id] = true
		next = append(next, e)
		// Rewritten even when present: its mask (a status) may differ.
		req.Set(eventKey(key, e.T, e.TxH), encodeEventValue(e), 0)
		if !has[id] {
			added++
		}
	}
	for _, e := range l.Events {
		if e.T >= from && !wanted[[2]uint64{uint64(e.T), e.TxH}] {
			req.Delete(eventKey(key, e.T, e.TxH))
			removed++
		}
	}
	if req.Len() == 0 {
		return 0, 0, nil
	}
	// Known before its events can reach Badger, as in apply.
	if now := s.opt.Now(); !s.known.mayContain(key, now) {
		s.known.add(key, now)
	}
	if err := s.kv.Commit(req); err != nil {
		return 0, 0, err
	}
	slices.SortStableFunc(next, compareEvents)
	l.Events = next
	return added, removed, nil
}

// compareEvents orders events as a log keeps them (features.Event.Less).
func compareEvents(a, b features.Event) int {
	if a.Less(b) {
		return -1
	}
	if b.Less(a) {
		return 1
	}
	return 0
}
