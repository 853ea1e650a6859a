// Package kv owns the Badger database that the service keeps its state
// in: it opens Badger in managed mode, hands out the commit timestamps and
// group-commits every write (Committer), declares every package's key
// prefix (see PrefixEvent and the others), and scans keys without their
// values (Keys).
//
// In managed mode the Committer is the only writer and picks each
// commit's timestamp itself, one above the last; reads are at the newest
// timestamp (math.MaxUint64, as badger.DB.View does in managed mode), so
// that reads on the hot path never wait for commits in flight, as they
// would in Badger's default mode.
//
//	db, err := kv.Open(badger.DefaultOptions(dir).WithDetectConflicts(false))
//	c, err := kv.NewCommitter(db, kv.CommitterOptions{})
//	err = c.Write([]kv.Entry{{Key: k, Value: v}}, nil)
//	for key, err := range kv.Keys(db, []byte{kv.PrefixSeen}) { ... }
package kv

import (
	"errors"
	"iter"
	"math"

	"github.com/dgraph-io/badger/v4"
)

// Entry is a key and its value to write.
type Entry struct {
	Key, Value []byte
}

// Open opens Badger with opt in managed mode, the mode a Committer needs.
// The caller closes the DB, after every Committer on it.
func Open(opt badger.Options) (*badger.DB, error) {
	return badger.OpenManaged(opt)
}

// checkManaged reports an error, rather than Badger's panic, for a DB that
// was not opened in managed mode.
func checkManaged(db *badger.DB) (err error) {
	defer func() {
		if recover() != nil {
			err = errors.New("kv: Badger must be opened in managed mode (kv.Open or badger.OpenManaged)")
		}
	}()
	db.NewTransactionAt(math.MaxUint64, false).Discard()
	return nil
}

// errStop ends Keys' read transaction when the caller's loop stops early.
var errStop = errors.New("kv: scan stopped")

// Keys yields the keys under prefix in key order, reading keys only (no
// values are fetched), in one read transaction that sees every commit. A
// key is valid only until the loop moves on: copy what is kept. An error
// of the read ends the sequence, yielded with a nil key.
func Keys(db *badger.DB, prefix []byte) iter.Seq2[[]byte, error] {
	return func(yield func([]byte, error) bool) {
		err := db.View(func(txn *badger.Txn) error {
			o := badger.DefaultIteratorOptions
			o.PrefetchValues = false
			o.Prefix = prefix
			it := txn.NewIterator(o)
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				if !yield(it.Item().Key(), nil) {
					return errStop
				}
			}
			return nil
		})
		if err != nil && err != errStop {
			yield(nil, err)
		}
	}
}
