package velocity

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

// lockedLog returns the entity's cached log with the shard's lock held,
// loading it from Badger on a miss. Loading happens outside the lock; the
// loaded copy is used only if no other goroutine cached the card meanwhile
// and no card of the shard was evicted (one evicted after committing would
// make the copy stale), else the lookup starts over.
func (s *Store) lockedLog(sh *entityShard, key string) (*entityLog, error) {
	for {
		sh.mu.Lock()
		if l, ok := sh.m[key]; ok {
			return l, nil
		}
		gen := sh.evictions
		sh.mu.Unlock()
		loaded, err := s.load(key)
		if err != nil {
			return nil, fmt.Errorf("velocity: load %s: %w", entityName(key), err)
		}
		sh.mu.Lock()
		if l, ok := sh.m[key]; ok {
			return l, nil
		}
		if sh.evictions != gen {
			sh.mu.Unlock()
			continue
		}
		if len(sh.m) >= s.perShard {
			s.evictLocked(sh, 1+s.perShard/64)
		}
		sh.m[key] = loaded
		return loaded, nil
	}
}

// evictLocked drops up to n entities without uncommitted events. Map order is
// random enough for a cache whose misses cost one prefix read.
func (s *Store) evictLocked(sh *entityShard, n int) {
	for k, l := range sh.m {
		if n == 0 {
			return
		}
		if l.pending == 0 {
			delete(sh.m, k)
			sh.evictions++
			s.stats.evictions.Add(1)
			n--
		}
	}
}

// load reads an entity's events from Badger. An entity the known filter
// has never seen has none: it costs no Badger read.
func (s *Store) load(key string) (*entityLog, error) {
	if !s.known.mayContain(key, s.opt.Now()) {
		return &entityLog{}, nil
	}
	s.stats.loads.Add(1)
	l := &entityLog{}
	prefix := eventPrefix(key)
	err := s.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = prefix
		o.PrefetchValues = true
		o.PrefetchSize = 64
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			item := it.Item()
			k := item.Key()[len(prefix):]
			if len(k) != 16 {
				continue
			}
			e := features.Event{
				T:   int64(binary.BigEndian.Uint64(k) ^ signBit),
				TxH: binary.BigEndian.Uint64(k[8:]),
			}
			if err := item.Value(func(v []byte) error { return decodeEventValue(v, &e) }); err != nil {
				return err
			}
			l.Events = append(l.Events, e) // keys sort as (time, txhash): already in order
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// FeaturesAt returns the features of a card (the card_id entity's) as of
// at, windows (at-W, at], not counting any new event. With no feature per
// card_id it returns none.
func (s *Store) FeaturesAt(ctx context.Context, card string, at time.Time) (fraud.Features, error) {
	e := s.set.EntityIndex("card_id")
	if e < 0 {
		return fraud.Features{}, nil
	}
	key := entityKeyOf(s.set.Entities()[e].Name, card)
	vals := make([]float64, s.set.Len())
	sh := s.entityShard(key)
	sh.mu.Lock()
	l, ok := sh.m[key]
	if ok {
		l.Compute(s.set, e, eventNanos(at), -1, vals)
	}
	sh.mu.Unlock()
	if !ok {
		// Not cached: a read must not evict hot entities.
		loaded, err := s.load(key)
		if err != nil {
			return nil, fmt.Errorf("velocity: load card: %w", err)
		}
		loaded.Compute(s.set, e, eventNanos(at), -1, vals)
	}
	var out fraud.Features
	for _, i := range s.set.OfEntity(e) {
		out = append(out, fraud.Feature{Name: s.set.Names()[i], Value: vals[i]})
	}
	return out, nil
}
