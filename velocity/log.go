package velocity

import (
	"slices"
	"sort"

	"github.com/fraudscore/scorer/fraud"
)

// event is one transaction of a card as the features need it: 32 bytes.
type event struct {
	t        int64  // event time, Unix nanoseconds
	amount   int64  // minor units
	txh      uint64 // hash of transaction_id: identity within the card
	merchant uint32 // hash of merchant_id, 0 when absent
	failed   bool
}

// less orders events by event time, then identity, so that equal
// timestamps have a stable order.
func (e event) less(o event) bool {
	if e.t != o.t {
		return e.t < o.t
	}
	return e.txh < o.txh
}

// cardLog is the event-time ordered events of one card within retention.
// It is guarded by its shard's mutex.
type cardLog struct {
	events  []event
	pending int32 // events applied in memory whose commit has not finished
}

// find returns the index where e belongs and whether an event with the
// same time and identity is already there.
func (l *cardLog) find(e event) (int, bool) {
	i := sort.Search(len(l.events), func(i int) bool { return !l.events[i].less(e) })
	return i, i < len(l.events) && l.events[i].t == e.t && l.events[i].txh == e.txh
}

// insert adds e in order. Events mostly arrive in order, so this is usually
// an append.
func (l *cardLog) insert(e event) int {
	n := len(l.events)
	if n == 0 || l.events[n-1].less(e) {
		l.events = append(l.events, e)
		return n
	}
	i, _ := l.find(e)
	l.events = slices.Insert(l.events, i, e)
	return i
}

// removeAt deletes the event at i.
func (l *cardLog) removeAt(i int) {
	l.events = slices.Delete(l.events, i, i+1)
}

// trimBefore drops events with time < horizon, calling drop for each, and
// returns how many were dropped. With keepLast the newest of those events
// stays as an anchor, so that the time since a card's previous transaction
// is known however long ago it was.
func (l *cardLog) trimBefore(horizon int64, keepLast bool, drop func(event)) int {
	n := 0
	for n < len(l.events) && l.events[n].t < horizon {
		n++
	}
	if keepLast && n > 0 {
		n--
	}
	if n == 0 {
		return 0
	}
	if drop != nil {
		for _, e := range l.events[:n] {
			drop(e)
		}
	}
	// Shift down rather than re-slice so that the backing array does not
	// keep growing at its end while its head is dead.
	l.events = append(l.events[:0], l.events[n:]...)
	return n
}

// compute appends the features of defs as of time t to out: windows are
// (t-W, t]. When self is true the event at index selfAt is the transaction
// being scored: it is included in windows and excluded as its own
// predecessor for SincePrev.
func (l *cardLog) compute(defs []Definition, t int64, selfAt int, out fraud.Features) fraud.Features {
	ev := l.events
	// hi is one past the last event with time <= t.
	hi := sort.Search(len(ev), func(i int) bool { return ev[i].t > t })
	for _, d := range defs {
		var v float64
		switch d.Agg {
		case SincePrev:
			v = -1
			// The previous event is the latest one at or before t other than
			// the transaction itself; an equal timestamp gives 0.
			prev := hi - 1
			if selfAt >= 0 && prev == selfAt {
				prev--
			}
			if prev >= 0 {
				v = float64(t-ev[prev].t) / 1e9
			}
		default:
			from := t - int64(d.Window)
			lo := sort.Search(hi, func(i int) bool { return ev[i].t > from })
			v = aggregate(d, ev[lo:hi])
		}
		out = append(out, fraud.Feature{Name: d.Name, Value: v})
	}
	return out
}

func aggregate(d Definition, ev []event) float64 {
	switch d.Agg {
	case Count:
		if d.Filter == All {
			return float64(len(ev))
		}
		n := 0
		for _, e := range ev {
			if e.failed {
				n++
			}
		}
		return float64(n)
	case Sum:
		var s int64
		for _, e := range ev {
			if d.Filter == All || e.failed {
				s += e.amount
			}
		}
		return float64(s)
	case Distinct:
		var stack [64]uint32
		hs := stack[:0]
		for _, e := range ev {
			if e.merchant != 0 && (d.Filter == All || e.failed) {
				hs = append(hs, e.merchant)
			}
		}
		slices.Sort(hs)
		return float64(len(slices.Compact(hs)))
	}
	return 0
}
