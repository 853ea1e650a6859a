package velocity

import (
	"context"
	"fmt"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

// updateStatus applies a later status of a known transaction to the
// filtered features (declined, failed), without counting the transaction
// again. tx has the stored transaction's fields (its fingerprint matched),
// so its entities are the stored one's.
func (s *Store) updateStatus(_ context.Context, tx *fraud.Transaction, c *claim, rec seenRecord) (*Op, error) {
	set := s.set
	mask := set.Mask(tx)
	txh := features.HashID(tx.ID)
	req := kv.NewBatch()
	defer req.Release()
	type change struct {
		key  string
		log  *entityLog
		ev   features.Event
		old  uint64
		done bool
	}
	var changes []change
	for e := range set.Entities() {
		key, ok := s.entityKey(e, tx)
		if !ok {
			continue
		}
		sh := s.entityShard(key)
		l, err := s.lockedLog(sh, key)
		if err != nil {
			for _, ch := range changes {
				s.restoreMask(ch.key, ch.log, ch.ev, ch.old, ch.done)
			}
			s.release(tx.ID, c, nil)
			return nil, err
		}
		ch := change{key: key, log: l, ev: features.Event{T: rec.t, TxH: txh}}
		if i, ok := l.Find(ch.ev); ok {
			ch.old, ch.done = l.Events[i].Mask, true
			l.Events[i].Mask = mask
			ch.ev = l.Events[i]
			req.Set(eventKey(key, ch.ev.T, ch.ev.TxH), encodeEventValue(ch.ev), 0)
		}
		l.pending++
		sh.mu.Unlock()
		changes = append(changes, ch)
	}

	rec.status = tx.Status
	req.Set(seenKey(tx.ID), encodeSeenRecord(rec), s.opt.DedupRetention)
	err := s.kv.Commit(req)
	for _, ch := range changes {
		if err != nil {
			s.restoreMask(ch.key, ch.log, ch.ev, ch.old, ch.done)
		}
		s.settle(ch.key, ch.log)
	}
	// The record's retention starts again: so must the filter's.
	s.seen.add(tx.ID, s.opt.Now())
	if err != nil {
		s.release(tx.ID, c, nil)
		return nil, fmt.Errorf("velocity: status update %s: %w", tx.ID, err)
	}
	s.release(tx.ID, c, rec.result)
	return &Op{Duplicate: true, Stored: rec.result, StatusUpdated: true}, nil
}

// restoreMask puts back an event's filter mask after a failed update.
func (s *Store) restoreMask(key string, l *entityLog, ev features.Event, old uint64, changed bool) {
	if !changed {
		return
	}
	sh := s.entityShard(key)
	sh.mu.Lock()
	if i, ok := l.Find(ev); ok {
		l.Events[i].Mask = old
	}
	sh.mu.Unlock()
}
