package velocity

import (
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
)

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
// one commit, while a lone event is committed at once.
func (s *Store) commitLoop() {
	defer close(s.done)
	batch := make([]*commitReq, 0, maxBatchOps)
	var lastStream int64 = noTime
	for r := range s.commits {
		batch = append(batch[:0], r)
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
		st := s.streamTime.Load()
		var stream *badger.Entry
		if st != lastStream && st != noTime {
			stream = badger.NewEntry(keyStreamTime, binary.BigEndian.AppendUint64(nil, uint64(st)))
		}
		err := s.write(batch, stream)
		if err == nil && stream != nil {
			lastStream = st
		}
		s.stats.batches.Add(1)
		for _, r := range batch {
			r.done <- err
		}
	}
}

// write commits the batch in one transaction; should it be too big for
// Badger, each request goes in its own.
func (s *Store) write(batch []*commitReq, stream *badger.Entry) error {
	err := s.writeTxn(batch, stream)
	if !errors.Is(err, badger.ErrTxnTooBig) {
		return err
	}
	for _, r := range batch {
		if err := s.writeTxn([]*commitReq{r}, nil); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeTxn(batch []*commitReq, stream *badger.Entry) error {
	txn := s.db.NewTransaction(true)
	defer txn.Discard()
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
				return err
			}
		}
	}
	if stream != nil {
		if err := txn.SetEntry(stream); err != nil {
			return err
		}
	}
	return txn.Commit()
}
