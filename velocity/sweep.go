package velocity

import (
	"bytes"
	"context"
	"encoding/binary"
	"time"

	"github.com/fraudscore/scorer/kv"
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
	for k, err := range kv.Keys(s.db, []byte{kv.PrefixEvent}) {
		if err == nil {
			err = ctx.Err()
		}
		if err != nil {
			return deleted, err
		}
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
		pendingOld = bytes.Clone(k)
		if len(doomed) >= 1000 {
			if err := flush(); err != nil {
				return deleted, err
			}
		}
	}
	return deleted, flush()
}

// sweepLoop runs Sweep every interval until the store closes.
func (s *Store) sweepLoop(interval time.Duration) {
	s.every(interval, func() {
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
	})
}

// every calls fn every interval until the store closes.
func (s *Store) every(interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.sweepStop:
			return
		case <-t.C:
			fn()
		}
	}
}
