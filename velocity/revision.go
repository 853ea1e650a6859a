package velocity

import (
	"context"
	"fmt"

	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kv"
)

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
	for {
		cs, prev, err := s.lockClaims(ctx, tx.ID)
		if err != nil {
			return nil, err
		}
		if prev != nil {
			continue // look again once the attempt in progress is over
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
	req := kv.NewBatch()
	req.Set(seenKey(r.tx.ID), encodeSeenRecord(rec), r.s.opt.DedupRetention)
	for _, e := range extra {
		req.Set(e.Key, e.Value, 0)
	}
	err := r.s.kv.Commit(req)
	req.Release()
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
