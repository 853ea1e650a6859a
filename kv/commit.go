package kv

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// ErrClosed is returned by Commit and Write after Close.
var ErrClosed = errors.New("kv: committer closed")

// ErrNotWritable wraps the error of CommitterOptions.WriteGate when it
// refuses a group commit: nothing of it reached Badger.
var ErrNotWritable = errors.New("kv: writes refused")

const (
	// maxBatch bounds one group commit, well under Badger's transaction
	// limit (about 15% of the 64 MiB memtable).
	maxBatchOps   = 1024
	maxBatchBytes = 4 << 20
)

// CommitterOptions configures a Committer. Every field is optional.
type CommitterOptions struct {
	// WriteGate, when set, is asked before each group commit, with its size
	// in bytes. An error fails the group's writes before any reaches
	// Badger (the disk is nearly full, say); each Commit returns it,
	// wrapped in ErrNotWritable.
	WriteGate func(bytes int) error
	// WriteError, when set, is told about every failed Badger commit.
	WriteError func(error)
	// GroupEntry, when set, is asked once per group commit, after the
	// gate, for an entry to write with the group (the velocity stream
	// time); false adds none. GroupEntryCommitted is then told the entry
	// once the group is in Badger. Requests committed one by one, after
	// their group failed, carry none.
	GroupEntry          func() (Entry, bool)
	GroupEntryCommitted func(Entry)
}

// Committer is the one writer of a managed Badger DB: it hands out the
// commit timestamps and group-commits Batches. It is safe for concurrent
// use.
type Committer struct {
	db  *badger.DB
	opt CommitterOptions

	mu      sync.RWMutex // guards closed and sends on commits
	closed  bool
	commits chan *Batch
	done    chan struct{}

	tsMu sync.Mutex // held from taking a timestamp to handing its commit to Badger
	ts   uint64     // last commit timestamp handed out

	discardMu sync.Mutex
	discardTs uint64 // highest timestamp given to SetDiscardTs

	batches atomic.Int64
}

// NewCommitter starts the committer of db, which must be opened in
// managed mode (Open); its timestamps continue from the newest version in
// db. Close stops it; db is closed after, by the caller.
func NewCommitter(db *badger.DB, opt CommitterOptions) (*Committer, error) {
	if err := checkManaged(db); err != nil {
		return nil, err
	}
	c := &Committer{
		db:      db,
		opt:     opt,
		commits: make(chan *Batch, 4096),
		done:    make(chan struct{}),
		ts:      db.MaxVersion(),
	}
	go c.loop()
	return c, nil
}

// Batches is the number of Badger transactions that group commits used.
func (c *Committer) Batches() int64 { return c.batches.Load() }

// Close waits for the commits in progress and stops the committer. Commits
// after Close return ErrClosed.
func (c *Committer) Close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.commits)
	}
	c.mu.Unlock()
	<-c.done
}

// Batch is writes committed atomically: in one Badger transaction, with
// the other batches of its group. Get one with NewBatch; Release it after
// Commit.
type Batch struct {
	entries []entry
	bytes   int
	done    chan error
}

type entry struct {
	key, val []byte
	ttl      time.Duration
	del      bool
}

var batchPool = sync.Pool{New: func() any { return &Batch{done: make(chan error, 1)} }}

// NewBatch returns an empty batch.
func NewBatch() *Batch { return batchPool.Get().(*Batch) }

// Release returns b to the pool once its Commit has returned; b must not
// be used after.
func (b *Batch) Release() {
	clear(b.entries)
	b.entries = b.entries[:0]
	b.bytes = 0
	batchPool.Put(b)
}

// Set writes value under key, expiring after ttl; 0 keeps it for ever.
func (b *Batch) Set(key, value []byte, ttl time.Duration) {
	b.entries = append(b.entries, entry{key: key, val: value, ttl: ttl})
	b.bytes += len(key) + len(value) + 32
}

// Delete deletes key.
func (b *Batch) Delete(key []byte) {
	b.entries = append(b.entries, entry{key: key, del: true})
	b.bytes += len(key) + 32
}

// Len is the number of writes in b.
func (b *Batch) Len() int { return len(b.entries) }

// Commit hands b to the group committer and waits until it is in Badger.
func (c *Committer) Commit(b *Batch) error {
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return ErrClosed
	}
	c.commits <- b
	c.mu.RUnlock()
	return <-b.done
}

// Write commits puts and deletes in one Badger transaction through the
// group committer. It returns once they are in Badger.
func (c *Committer) Write(puts []Entry, deletes [][]byte) error {
	b := NewBatch()
	defer b.Release()
	for _, e := range puts {
		b.Set(e.Key, e.Value, 0)
	}
	for _, k := range deletes {
		b.Delete(k)
	}
	return c.Commit(b)
}

// CommitNow commits b in a transaction of its own, at once, without asking
// the WriteGate: for a small write while a store opens (velocity registers
// its feature set), before it takes traffic.
func (c *Committer) CommitNow(b *Batch) error {
	txn, err := c.fill([]*Batch{b}, nil)
	if err != nil {
		return err
	}
	return c.commitAlone(txn)
}

// commitAlone commits txn at the next timestamp and waits until it is in
// Badger.
func (c *Committer) commitAlone(txn *badger.Txn) error {
	c.tsMu.Lock()
	c.ts++
	ts := c.ts
	err := txn.CommitAt(ts, nil)
	c.tsMu.Unlock()
	if err == nil {
		c.discardUpTo(ts)
	}
	return err
}

// loop group-commits: it takes every batch waiting (up to a bound) into
// one Badger transaction, so that under load many scored events share one
// commit, while a lone event is committed at once. Commits are handed to
// Badger asynchronously (CommitAt with a callback), so the next group is
// gathered while the previous one is written; Badger applies them in
// timestamp order, the order they are handed over.
func (c *Committer) loop() {
	var inflight sync.WaitGroup
	defer func() {
		inflight.Wait()
		close(c.done)
	}()
	// At most two groups are with Badger at once: one being written while
	// the next is gathered. Waiting for a slot is what lets a group grow
	// under load.
	slots := make(chan struct{}, 2)
	for b := range c.commits {
		slots <- struct{}{}
		batch := make([]*Batch, 1, 64)
		batch[0] = b
		size := b.bytes
	drain:
		for len(batch) < maxBatchOps && size < maxBatchBytes {
			select {
			case b, ok := <-c.commits:
				if !ok {
					break drain
				}
				batch = append(batch, b)
				size += b.bytes
			default:
				break drain
			}
		}
		if gate := c.opt.WriteGate; gate != nil {
			if err := gate(size); err != nil {
				err = fmt.Errorf("%w: %w", ErrNotWritable, err)
				for _, b := range batch {
					b.done <- err
				}
				<-slots
				continue
			}
		}
		var extra *Entry
		if c.opt.GroupEntry != nil {
			if e, ok := c.opt.GroupEntry(); ok {
				extra = &e
			}
		}
		c.batches.Add(1)
		inflight.Add(1)
		txn, err := c.fill(batch, extra)
		if err == nil {
			c.tsMu.Lock()
			c.ts++
			ts := c.ts
			txn.CommitAt(ts, func(err error) {
				if err != nil && c.opt.WriteError != nil {
					c.opt.WriteError(err)
				}
				if err == nil {
					c.discardUpTo(ts)
					if extra != nil && c.opt.GroupEntryCommitted != nil {
						c.opt.GroupEntryCommitted(*extra)
					}
				}
				for _, b := range batch {
					b.done <- err
				}
				<-slots
				inflight.Done()
			})
			c.tsMu.Unlock()
			continue
		}
		// The group does not fit in one transaction (or an entry is bad):
		// commit each batch on its own so that one cannot fail the others.
		for _, b := range batch {
			txn, err := c.fill([]*Batch{b}, nil)
			if err == nil {
				err = c.commitAlone(txn)
				if err != nil && c.opt.WriteError != nil {
					c.opt.WriteError(err)
				}
			}
			b.done <- err
		}
		<-slots
		inflight.Done()
	}
}

// discardUpTo lets compaction drop old versions at or below ts: nothing
// reads at an older timestamp (reads are at MaxUint64). Callbacks finish in
// any order, so only a higher ts is passed on.
func (c *Committer) discardUpTo(ts uint64) {
	c.discardMu.Lock()
	defer c.discardMu.Unlock()
	if ts > c.discardTs {
		c.discardTs = ts
		c.db.SetDiscardTs(ts)
	}
}

// fill returns a write transaction holding the batches' entries and extra.
// On error the transaction is discarded.
func (c *Committer) fill(batch []*Batch, extra *Entry) (*badger.Txn, error) {
	txn := c.db.NewTransactionAt(math.MaxUint64, true)
	for _, b := range batch {
		for _, e := range b.entries {
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
	if extra != nil {
		if err := txn.Set(extra.Key, extra.Value); err != nil {
			txn.Discard()
			return nil, err
		}
	}
	return txn, nil
}
