package velocity

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Sweep deletes from Badger the events older than the retention horizon
// (stream time minus the longest window and the allowed lateness), keeping
// each card's newest such event as its anchor, as the in-memory trim does.
// Cards trim themselves when they see traffic; the sweep is for cards that
// went quiet, whose events would otherwise stay on disk for ever. It reads
// keys only and deletes in chunks through the group committer.
func (s *Store) Sweep(ctx context.Context) (int, error) {
	horizon := s.horizon()
	if horizon == noTime {
		return 0, nil
	}
	var doomed [][]byte
	var card []byte       // card prefix of the keys being looked at
	var pendingOld []byte // newest key seen before the horizon for this card
	deleted := 0
	flush := func() error {
		if len(doomed) == 0 {
			return nil
		}
		err := s.Write(ctx, nil, doomed)
		deleted += len(doomed)
		doomed = doomed[:0]
		return err
	}
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = []byte{prefixEvent}
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			k := it.Item().Key()
			if len(k) < 18 {
				continue
			}
			prefix := k[:len(k)-16]
			if !bytes.Equal(prefix, card) {
				card = append(card[:0], prefix...)
				pendingOld = nil
			}
			t := int64(binary.BigEndian.Uint64(k[len(k)-16:]) ^ signBit)
			if t >= horizon {
				continue
			}
			if pendingOld != nil {
				doomed = append(doomed, pendingOld)
			}
			pendingOld = it.Item().KeyCopy(nil)
			if len(doomed) >= 1000 {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return deleted, err
	}
	return deleted, flush()
}

// sweepLoop runs Sweep every interval until the store closes.
func (s *Store) sweepLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				select {
				case <-s.sweepStop:
					cancel()
				case <-ctx.Done():
				}
			}()
			n, err := s.Sweep(ctx)
			cancel()
			if err != nil && err != ErrClosed && err != context.Canceled {
				s.opt.Logger.Warn("velocity sweep failed", "err", err)
			} else if n > 0 {
				s.opt.Logger.Info("velocity sweep", "deleted_events", n)
			}
		}
	}
}
