package features_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

var allKinds = []byte(`features:
  - {name: n_1m, entity: card_id, agg: count, window: {type: sliding, size: 1m}}
  - {name: n_fail_10m, entity: card_id, agg: count, filter: "status in (declined, failed)", window: {type: sliding, size: 10m}}
  - {name: sum_1h, entity: card_id, agg: sum, field: amount, window: {type: sliding, size: 1h}}
  - {name: avg_1h, entity: card_id, agg: avg, field: amount, window: {type: sliding, size: 1h}}
  - {name: min_1h, entity: card_id, agg: min, field: amount, window: {type: sliding, size: 1h}}
  - {name: max_big_1h, entity: card_id, agg: max, field: amount, filter: "amount >= 500", window: {type: sliding, size: 1h}}
  - {name: last_ecom_1h, entity: card_id, agg: last, field: amount, filter: "channel == ecom", window: {type: sliding, size: 1h}}
  - {name: merchants_1h, entity: card_id, agg: distinct_count, field: merchant_id, window: {type: sliding, size: 1h}}
  - {name: since_prev, entity: card_id, agg: seconds_since_prev}
  - {name: since_prev_fail, entity: card_id, agg: seconds_since_prev, filter: "status == failed"}
  - {name: sum_5m_tumbling, entity: card_id, agg: sum, field: amount, window: {type: tumbling, size: 5m}}
  - {name: session_n, entity: card_id, agg: count, window: {type: session, gap: 3m, max_span: 1h}}
  - {name: hour, stateless: hour_of_day}
  - {name: amt, stateless: amount}
  - {name: amt_vs_avg, stateless: ratio, of: [amt, avg_1h]}
`)

type ev struct {
	tx fraud.Transaction
	t  int64
}

// brute computes feature name of tx from scratch over the events seen
// before it (arrival order), by the definitions' words.
func brute(seen []ev, me ev, name string) float64 {
	t := me.t
	in := func(o ev, w time.Duration) bool { return o.t > t-int64(w) && o.t <= t }
	var sel []ev
	for _, o := range seen {
		sel = append(sel, o)
	}
	sel = append(sel, me)
	slices.SortStableFunc(sel, func(a, b ev) int { return int(a.t - b.t) })
	count := func(w time.Duration, pass func(ev) bool) (n int, sum int64, mn, mx int64, last int64, found bool) {
		for _, o := range sel {
			if in(o, w) && pass(o) {
				a := o.tx.Amount
				if !found || a < mn {
					mn = a
				}
				if !found || a > mx {
					mx = a
				}
				found = true
				n++
				sum += a
			}
		}
		return
	}
	all := func(ev) bool { return true }
	switch name {
	case "n_1m":
		n, _, _, _, _, _ := count(time.Minute, all)
		return float64(n)
	case "n_fail_10m":
		n, _, _, _, _, _ := count(10*time.Minute, func(o ev) bool { return o.tx.Status.Failed() })
		return float64(n)
	case "sum_1h":
		_, s, _, _, _, _ := count(time.Hour, all)
		return float64(s)
	case "avg_1h":
		n, s, _, _, _, _ := count(time.Hour, all)
		if n == 0 {
			return 0
		}
		return float64(s) / float64(n)
	case "min_1h":
		_, _, mn, _, _, _ := count(time.Hour, all)
		return float64(mn)
	case "max_big_1h":
		_, _, _, mx, _, _ := count(time.Hour, func(o ev) bool { return o.tx.Amount >= 500 })
		return float64(mx)
	case "last_ecom_1h":
		var last float64
		var lt int64 = math.MinInt64
		var lh uint64
		for _, o := range sel {
			if in(o, time.Hour) && o.tx.Channel == "ecom" {
				h := hashID(o.tx.ID)
				if o.t > lt || (o.t == lt && h > lh) {
					last, lt, lh = float64(o.tx.Amount), o.t, h
				}
			}
		}
		return last
	case "merchants_1h":
		m := map[string]bool{}
		for _, o := range sel {
			if in(o, time.Hour) && o.tx.MerchantID != "" {
				m[o.tx.MerchantID] = true
			}
		}
		return float64(len(m))
	case "since_prev", "since_prev_fail":
		best := int64(math.MinInt64)
		for _, o := range seen {
			if o.t <= t && o.t > best && (name == "since_prev" || o.tx.Status == fraud.StatusFailed) {
				best = o.t
			}
		}
		if best == math.MinInt64 {
			return -1
		}
		return float64(t-best) / 1e9
	case "sum_5m_tumbling":
		start := t - t%int64(5*time.Minute)
		var s int64
		for _, o := range sel {
			if o.t >= start && o.t <= t {
				s += o.tx.Amount
			}
		}
		return float64(s)
	case "session_n":
		var ts []int64
		for _, o := range sel {
			if o.t <= t {
				ts = append(ts, o.t)
			}
		}
		slices.Sort(ts)
		n := 1
		for i := len(ts) - 1; i > 0 && ts[i]-ts[i-1] < int64(3*time.Minute) && ts[i-1] > t-int64(time.Hour); i-- {
			n++
		}
		return float64(n)
	}
	panic(name)
}

func hashID(id string) uint64 { return features.HashID(id) }

// TestComputeMatchesBruteForce feeds random transactions of one card, out
// of order and with equal times, and compares every stateful feature with
// a brute-force computation from the definitions' words.
func TestComputeMatchesBruteForce(t *testing.T) {
	set, err := features.Parse(allKinds, "all.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 9))
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	for round := range 30 {
		var log features.Log
		var seen []ev
		for i := range 60 {
			// Mostly forward in time with jitter, sometimes back, sometimes
			// at the very same instant, sometimes exactly a window apart.
			var at int64
			switch r := rng.IntN(10); {
			case r == 0 && len(seen) > 0:
				at = seen[rng.IntN(len(seen))].t
			case r == 1 && len(seen) > 0:
				at = seen[rng.IntN(len(seen))].t + int64(time.Minute)
			default:
				at = base + int64(i)*int64(20*time.Second) + rng.Int64N(int64(90*time.Second)) - int64(45*time.Second)
			}
			tx := fraud.Transaction{
				ID: fmt.Sprintf("r%d-%d", round, i), CardID: "c", Amount: rng.Int64N(1000), Currency: "USD",
				EventTime: time.Unix(0, at).UTC(), MerchantID: []string{"", "m1", "m2", "m3"}[rng.IntN(4)],
				Channel: []string{"pos", "ecom"}[rng.IntN(2)],
				Status:  []fraud.Status{"", fraud.StatusApproved, fraud.StatusDeclined, fraud.StatusFailed}[rng.IntN(4)],
			}
			me := ev{tx: tx, t: at}
			idx := log.Insert(set.Event(0, &tx, set.Mask(&tx), at))
			got := set.Features(&tx, []*features.Log{&log}, []int{idx})
			for _, name := range set.Names() {
				if name == "hour" || name == "amt" || name == "amt_vs_avg" {
					continue
				}
				want := brute(seen, me, name)
				if v, _ := got.Get(name); math.Abs(v-want) > 1e-9 {
					t.Fatalf("round %d tx %d (%v): %s = %v, brute force %v", round, i, time.Unix(0, at).UTC(), name, v, want)
				}
			}
			if a, _ := got.Get("amt"); a != float64(tx.Amount) {
				t.Fatalf("amt = %v, want %d", a, tx.Amount)
			}
			avg, _ := got.Get("avg_1h")
			if r, _ := got.Get("amt_vs_avg"); avg != 0 && math.Abs(r-float64(tx.Amount)/avg) > 1e-9 {
				t.Fatalf("amt_vs_avg = %v, want %v", r, float64(tx.Amount)/avg)
			}
			seen = append(seen, me)
		}
	}
}
