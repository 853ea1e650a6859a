package backfill

import (
	"cmp"
	"context"
	"runtime"
	"sync"
	"unsafe"

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
	adviseHugePages(asBytes(t.Values))
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

// asBytes is the memory of s.
func asBytes[T any](s []T) []byte {
	var zero T
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(zero)))
}

// computeShard computes the stateful features of the entity values that
// fall in shard w of n. Shard 0 also writes the empty values of
// transactions that lack an entity.
func (t *Table) computeShard(ctx context.Context, w, n int) error {
	set := t.Set
	l := t.Log
	ents := make([]entityLogs, len(set.Entities()))
	for e, ent := range set.Entities() {
		ents[e] = newEntityLogs(l, ent)
	}
	retention := int64(set.Retention())
	var tx fraud.Transaction
	for i := range l.Len() {
		if i&(1<<14-1) == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		r := l.at(i)
		row := t.Row(i)
		have := false // tx holds row i
		var mask uint64
		for e := range ents {
			el := &ents[e]
			if el.field >= 0 && n > 1 && r.f[el.field] != 0 && int(r.f[el.field])%n != w {
				continue // another shard's
			}
			if !have {
				l.tx(i, &tx)
				mask, have = set.Mask(&tx), true
			}
			fl, ok := el.log(set, e, r, &tx, w, n)
			if !ok {
				if w == 0 {
					set.Empty(e, row)
				}
				continue
			}
			if fl == nil {
				continue // another shard's
			}
			at := r.t
			fl.TrimBefore(at-retention, true, nil)
			j := fl.Insert(set.Event(e, &tx, mask, at))
			fl.Compute(set, e, at, j, row)
		}
	}
	return nil
}

// entityLogs holds one shard's feature logs of one entity. An entity of a
// single field is known by the field's dictionary id, which is the same
// for the same value and 0 for the empty one (set.Key's false); others by
// set.Key.
type entityLogs struct {
	field field // the entity's field when it has one, else -1
	byID  []*features.Log
	byKey map[string]*features.Log
}

func newEntityLogs(l *Log, ent features.Entity) entityLogs {
	if len(ent.Fields) == 1 {
		if f := fieldOf([]byte(ent.Fields[0])); f >= 0 && f < numDict {
			return entityLogs{field: f, byID: make([]*features.Log, len(l.dict[f]))}
		}
	}
	return entityLogs{field: -1, byKey: map[string]*features.Log{}}
}

// log returns the feature log of entity e of row r (tx), or nil when it
// is another shard's, and false when the row has no such entity.
func (el *entityLogs) log(set *features.Set, e int, r *row, tx *fraud.Transaction, w, n int) (*features.Log, bool) {
	if el.field >= 0 {
		id := r.f[el.field]
		if id == 0 {
			return nil, false
		}
		fl := el.byID[id]
		if fl == nil {
			fl = &features.Log{}
			el.byID[id] = fl
		}
		return fl, true
	}
	key, ok := set.Key(e, tx)
	if !ok {
		return nil, false
	}
	if n > 1 && int(xxhash.Sum64String(key)%uint64(n)) != w {
		return nil, true
	}
	fl := el.byKey[key]
	if fl == nil {
		fl = &features.Log{}
		el.byKey[key] = fl
	}
	return fl, true
}
