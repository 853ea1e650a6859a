package backtest

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/kv"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/scoring"
	"github.com/fraudscore/scorer/velocity"
)

// Replayed is what Replay returns: a row per labelled transaction, and
// how the features the pipeline answered compare with the backfill's.
type Replayed struct {
	Rows []Row
	// Mismatches counts, per feature, the transactions whose online value
	// differs from the backfill's (beyond 1e-9 relative): 0 everywhere when
	// the online store and the batch agree, as they must for a log in
	// event-time order.
	Mismatches map[string]int
	Late       int // answers marked late (none for an in-order log)
	Took       time.Duration
}

// Replay scores the transactions of t one by one, in t's order (event
// time), through the real scoring pipeline: a velocity store on a fresh
// Badger in a temporary directory under dir (removed after), with the
// features of t and eng, as the service would have answered them had the
// log reached it in that order. Rows come only for labelled transactions
// when t has labels. progress, when set, is called every 4,096
// transactions with how many were scored.
func Replay(ctx context.Context, dir string, eng *model.Engine, t *backfill.Table, progress func(done int)) (*Replayed, error) {
	start := time.Now()
	tmp, err := os.MkdirTemp(dir, "scorer-replay-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	db, err := kv.Open(badger.DefaultOptions(tmp).WithLogger(nil).WithDetectConflicts(false))
	if err != nil {
		return nil, fmt.Errorf("replay: open badger: %w", err)
	}
	defer db.Close()
	quiet := slog.New(slog.DiscardHandler)
	store, err := velocity.Open(db, velocity.Options{Features: t.Set, Logger: quiet, SweepInterval: -1})
	if err != nil {
		return nil, err
	}
	defer store.Close()
	p := &scoring.Pipeline{Store: store, Engine: eng}
	out := &Replayed{Mismatches: map[string]int{}}
	names := t.Set.Names()
	for i := range t.Len() {
		if progress != nil && i%4096 == 0 {
			progress(i)
		}
		tx := t.Tx(i)
		res, _, err := p.Score(ctx, &tx)
		if err != nil {
			return nil, fmt.Errorf("replay: transaction %d of %d: %w", i+1, t.Len(), err)
		}
		if res.Late {
			out.Late++
		}
		want := t.Row(i)
		for k, name := range names {
			if v, ok := res.Features.Get(name); !ok || !agree(v, want[k]) {
				out.Mismatches[name]++
			}
		}
		label := false
		if t.Labels != nil {
			if t.Labels[i] < 0 {
				continue
			}
			label = t.Labels[i] == 1
		}
		row := Row{ID: tx.ID, Time: tx.EventTime, Label: label, Score: res.Score, Decision: res.Decision, Degraded: res.Degraded}
		for _, r := range res.Reasons {
			row.Reasons = append(row.Reasons, r.Code)
		}
		out.Rows = append(out.Rows, row)
	}
	if progress != nil {
		progress(t.Len())
	}
	out.Took = time.Since(start)
	return out, nil
}

// agree reports whether a and b agree to 1e-9 relative (sums of amounts
// are added in another order online and in batch).
func agree(a, b float64) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	return math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}
