package train

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// byTime returns the row indexes of t ordered by event time, ties in row
// order.
func byTime(t *Table) []int {
	idx := make([]int, t.Len())
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(t.EventTime[a], t.EventTime[b]) })
	return idx
}

// SplitAt splits t at the instant at: train holds the rows with event time
// before at, valid those at or after it. Both are ordered by event time,
// rows of the same time in their order in t.
func SplitAt(t *Table, at time.Time) (train, valid *Table) {
	idx := byTime(t)
	cut := at.UnixNano()
	k, _ := slices.BinarySearchFunc(idx, cut, func(i int, cut int64) int { return cmp.Compare(t.EventTime[i], cut) })
	return t.take(idx[:k]), t.take(idx[k:])
}

// SplitByTime trains on the earliest rows and validates on the latest:
// valid holds the latest ceil(validShare * rows) rows by event time, and
// any other row of the same event time as the earliest of them, so that
// every train row is strictly earlier than every valid row (valid can
// therefore hold more than its share when times tie at the cut). Both are
// ordered by event time. validShare must be in [0, 1]; it panics
// otherwise.
func SplitByTime(t *Table, validShare float64) (train, valid *Table) {
	if !(validShare >= 0 && validShare <= 1) {
		panic("train: SplitByTime: validShare must be in [0, 1]")
	}
	idx := byTime(t)
	n := len(idx)
	nValid := min(n, int(math.Ceil(validShare*float64(n)-1e-9)))
	if nValid <= 0 {
		return t.take(idx), t.take(nil)
	}
	cut := t.EventTime[idx[n-nValid]]
	k, _ := slices.BinarySearchFunc(idx, cut, func(i int, cut int64) int { return cmp.Compare(t.EventTime[i], cut) })
	return t.take(idx[:k]), t.take(idx[k:])
}
