package velocity

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ErrNotWritable wraps the error of Options.WriteGate when it refuses a
// group commit: nothing of it reached Badger.
var ErrNotWritable = errors.New("velocity: writes refused")

// commitReq is one Op's writes, committed atomically with the others of
// its group.
type commitReq struct {
	entries []entry
	bytes   int
	done    chan error
}

type entry struct {
	key, val []byte
	ttl      time.Duration
	del      bool
}

var reqPool = sync.Pool{New: func() any { return &commitReq{done: make(chan error, 1)} }}

func getReq() *commitReq { return reqPool.Get().(*commitReq) }

func putReq(r *commitReq) {
	clear(r.entries)
	r.entries = r.entries[:0]
	r.bytes = 0
	reqPool.Put(r)
}

func (r *commitReq) add(k, v []byte, ttl time.Duration) {
	r.entries = append(r.entries, entry{key: k, val: v, ttl: ttl})
	r.bytes += len(k) + len(v) + 32
}

func (r *commitReq) del(k []byte) {
	r.entries = append(r.entries, entry{key: k, del: true})
	r.bytes += len(k) + 32
}

// submit hands r to the committer and waits until it is in Badger.
func (s *Store) submit(r *commitReq) error {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return ErrClosed
	}
	s.commits <- r
	s.mu.RUnlock()
	return <-r.done
}

// commitLoop group-commits: it takes every request waiting (up to a bound)
// into one Badger transaction, so that under load many scored events share
// one commit, while a lone event is committed at once. Commits are handed
// to Badger asynchronously (CommitAt with a callback), so the next group is
// gathered while the previous one is written; Badger applies them in order.
func (s *Store) commitLoop() {
	var inflight sync.WaitGroup
	defer func() {
		inflight.Wait()
		close(s.done)
	}()
	var persisted atomic.Int64 // stream time last written successfully
	persisted.Store(noTime)
	// At most two groups are with Badger at once: one being written while
	// the next is gathered. Waiting for a slot is what lets a group grow
	// under load.
	slots := make(chan struct{}, 2)
	for r := range s.commits {
		slots <- struct{}{}
		batch := make([]*commitReq, 1, 64)
		batch[0] = r
		size := r.bytes
	drain:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			select {
			case r, ok := <-s.commits:
				if !ok {
					break drain
				}
				batch = append(batch, r)
				size += r.bytes
			default:
				break drain
			}
		}
		if gate := s.opt.WriteGate; gate != nil {
			if err := gate(size); err != nil {
				err = fmt.Errorf("%w: %w", ErrNotWritable, err)
				for _, r := range batch {
					r.done <- err
				}
				<-slots
				continue
			}
		}
		var stream *badger.Entry
		st := s.streamTime.Load()
		if st != persisted.Load() && st != noTime {
			stream = badger.NewEntry(keyStreamTime, binary.BigEndian.AppendUint64(nil, uint64(st)))
		}
		s.stats.batches.Add(1)
		inflight.Add(1)
		s.ts++
		ts := s.ts
		txn, err := s.fill(batch, stream)
		if err == nil {
			txn.CommitAt(ts, func(err error) {
				if err != nil && s.opt.WriteError != nil {
					s.opt.WriteError(err)
				}
				if err == nil {
					s.discardUpTo(ts)
					if stream != nil {
						persisted.Store(st)
					}
				}
				for _, r := range batch {
					r.done <- err
				}
				<-slots
				inflight.Done()
			})
			continue
		}
		// The group does not fit in one transaction (or an entry is bad):
		// commit each request on its own so that one cannot fail the others.
		for _, r := range batch {
			txn, err := s.fill([]*commitReq{r}, nil)
			if err == nil {
				s.ts++
				err = txn.CommitAt(s.ts, nil)
				if err == nil {
					s.discardUpTo(s.ts)
				} else if s.opt.WriteError != nil {
					s.opt.WriteError(err)
				}
			}
			r.done <- err
		}
		<-slots
		inflight.Done()
	}
}

// discardUpTo lets compaction drop old versions at or below ts: nothing
// reads at an older timestamp (reads are at MaxUint64). Callbacks finish in
// any order, so only a higher ts is passed on.
func (s *Store) discardUpTo(ts uint64) {
	s.discardMu.Lock()
	defer s.discardMu.Unlock()
	if ts > s.discardTs {
		s.discardTs = ts
		s.db.SetDiscardTs(ts)
	}
}

// fill returns a write transaction holding the batch's entries. On error
// the transaction is discarded.
func (s *Store) fill(batch []*commitReq, stream *badger.Entry) (*badger.Txn, error) {
	txn := s.db.NewTransactionAt(math.MaxUint64, true)
	for _, r := range batch {
		for _, e := range r.entries {
			var err error
			switch {
			case e.del:
				err = txn.Delete(e.key)
			case e.ttl > 0:
				err = txn.SetEntry(badger.NewEntry(e.key, e.val).WithTTL(e.ttl))
			default:
				err = txn.Set(e.key, e.val)
			}
			if err != nil {
				txn.Discard()
				return nil, err
			}
		}
	}
	if stream != nil {
		if err := txn.SetEntry(stream); err != nil {
			txn.Discard()
			return nil, err
		}
	}
	return txn, nil
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
