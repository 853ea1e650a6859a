package backfill

import (
	"cmp"
	"context"
	"runtime"
	"sync"

	"github.com/cespare/xxhash/v2"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

// Table holds the features of a log's transactions: one row each, in
// event-time order.
type Table struct {
	Set *features.Set
	// Log holds the transactions, sorted by event time; equal times keep
	// the order they came in.
	Log *Log
	// Values holds the features, row after row: those of transaction i
	// are Values[i*Set.Len():(i+1)*Set.Len()], in the set's order.
	Values []float64
	// Labels is nil, or (see Join) each row's label: 0 or 1, or -1 for a
	// row without one, which the writers leave out.
	Labels []int8
}

// Len is the number of rows.
func (t *Table) Len() int { return t.Log.Len() }

// Tx returns the transaction of row i.
func (t *Table) Tx(i int) fraud.Transaction { return t.Log.Tx(i) }

// Row returns the feature values of row i, in the set's order.
func (t *Table) Row(i int) []float64 {
	n := t.Set.Len()
	return t.Values[i*n : (i+1)*n : (i+1)*n]
}

// Features returns the named feature values of row i.
func (t *Table) Features(i int) fraud.Features { return t.Set.Named(t.Row(i)) }

// Compute computes every feature of set for each transaction of l as of
// its event time, over every transaction of l: it takes them in event-time
// order (stable: equal times keep their order in l) and goes through them
// as the online velocity store does with an in-order log. For each
// transaction and each entity of the set, the event goes into the entity's
// log (features.Log), trimmed first to the set's retention before the
// event time (the newest older event stays as an anchor), and the
// entity's features are computed with the event included; then the
// stateless ones. A transaction's values are thus the ones the service
// answered for it when the log was replayed to it in event-time order.
// l is left as it is.
//
// The work is split by entity value across the available cores: an
// entity's log only ever holds its own events, so each core keeps the
// logs of its share of the entities and fills in their features.
func Compute(ctx context.Context, set *features.Set, l *Log) (*Table, error) {
	shards := runtime.GOMAXPROCS(0)
	if l.Len() < 1<<14 || len(set.Entities()) == 0 {
		shards = 1 // not worth a goroutine
	}
	return compute(ctx, set, l, shards)
}

func compute(ctx context.Context, set *features.Set, l *Log, shards int) (*Table, error) {
	l = l.sorted()
	n := l.Len()
	t := &Table{Set: set, Log: l, Values: make([]float64, n*set.Len())}
	errs := make([]error, shards)
	var wg sync.WaitGroup
	for w := range shards {
		wg.Go(func() { errs[w] = t.computeShard(ctx, w, shards) })
	}
	wg.Wait()
	if err := cmp.Or(errs...); err != nil {
		return nil, err
	}
	chunk := (n + shards - 1) / shards
	for w := range shards {
		lo, hi := w*chunk, min((w+1)*chunk, n)
		wg.Go(func() {
			var tx fraud.Transaction
			for i := lo; i < hi; i++ {
				l.tx(i, &tx)
				set.Stateless(&tx, t.Row(i))
			}
		})
	}
	wg.Wait()
	return t, nil
}

// computeShard computes the stateful features of the entity values whose
// hash falls in shard w of n. Shard 0 also writes the empty values of
// transactions that lack an entity.
func (t *Table) computeShard(ctx context.Context, w, n int) error {
	set := t.Set
	ents := len(set.Entities())
	logs := make([]map[string]*features.Log, ents)
	for e := range logs {
		logs[e] = map[string]*features.Log{}
	}
	retention := int64(set.Retention())
	var tx fraud.Transaction
	for i := range t.Log.Len() {
		if i&(1<<14-1) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		t.Log.tx(i, &tx)
		row := t.Row(i)
		at := tx.EventTime.UnixNano()
		var mask uint64
		masked := false
		for e := range ents {
			key, ok := set.Key(e, &tx)
			if !ok {
				if w == 0 {
					set.Empty(e, row)
				}
				continue
			}
			if n > 1 && int(xxhash.Sum64String(key)%uint64(n)) != w {
				continue
			}
			if !masked {
				mask, masked = set.Mask(&tx), true
			}
			l := logs[e][key]
			if l == nil {
				l = &features.Log{}
				logs[e][key] = l
			}
			l.TrimBefore(at-retention, true, nil)
			j := l.Insert(set.Event(e, &tx, mask, at))
			l.Compute(set, e, at, j, row)
		}
	}
	return nil
}
