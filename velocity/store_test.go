package velocity_test

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/velocity"
)

var t0 = time.Date(2019, 1, 1, 12, 0, 0, 0, time.UTC)

func openDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.OpenManaged(badger.DefaultOptions(dir).WithLogger(nil).WithDetectConflicts(false))
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// designNine is the nine features of DESIGN.md alone (the head of the
// default file), whose longest window, 24h, the retention tests are
// written for.
func designNine(t testing.TB) *features.Set {
	t.Helper()
	head, _, ok := bytes.Cut(features.DefaultYAML(), []byte("  # What the embedded model reads"))
	if !ok {
		t.Fatal("the default features file has changed shape")
	}
	set, err := features.Parse(head, "nine.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if set.Len() != 9 || set.Retention() != 24*time.Hour {
		t.Fatalf("designNine: %d features, retention %v", set.Len(), set.Retention())
	}
	return set
}

func openStore(t testing.TB, opt velocity.Options) *velocity.Store {
	t.Helper()
	db := openDB(t, t.TempDir())
	s, err := velocity.Open(db, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		db.Close()
	})
	return s
}

type ev struct {
	id       string
	at       time.Duration // offset from t0
	amount   int64
	merchant string
	status   fraud.Status
}

func (e ev) tx(card string) fraud.Transaction {
	return fraud.Transaction{
		ID: e.id, CardID: card, Amount: e.amount, Currency: "USD",
		EventTime: t0.Add(e.at), MerchantID: e.merchant, Status: e.status,
	}
}

// score runs one transaction through Begin and Commit.
func score(t testing.TB, s *velocity.Store, tx fraud.Transaction) *velocity.Op {
	t.Helper()
	op, err := s.Begin(context.Background(), &tx)
	if err != nil {
		t.Fatalf("Begin(%s): %v", tx.ID, err)
	}
	if !op.Duplicate {
		if err := op.Commit(context.Background(), []byte(`{"transaction_id":"`+tx.ID+`"}`)); err != nil {
			t.Fatalf("Commit(%s): %v", tx.ID, err)
		}
	}
	return op
}

func feature(t testing.TB, f fraud.Features, name string) float64 {
	t.Helper()
	v, ok := f.Get(name)
	if !ok {
		t.Fatalf("feature %s missing from %v", name, f)
	}
	return v
}

func TestWindows(t *testing.T) {
	tests := []struct {
		name string
		give []ev
		// want are the features of the last event.
		want map[string]float64
		late bool
	}{
		{
			name: "events exactly W apart: the older one is outside (t-W, t]",
			give: []ev{{id: "a", at: 0}, {id: "b", at: time.Minute}},
			want: map[string]float64{"card_tx_count_1m": 1, "card_tx_count_5m": 2, "card_seconds_since_prev": 60},
		},
		{
			name: "1 s inside the window counts",
			give: []ev{{id: "a", at: 0}, {id: "b", at: 59 * time.Second}},
			want: map[string]float64{"card_tx_count_1m": 2},
		},
		{
			name: "1 s outside the window does not",
			give: []ev{{id: "a", at: 0}, {id: "b", at: 61 * time.Second}},
			want: map[string]float64{"card_tx_count_1m": 1, "card_tx_count_5m": 2},
		},
		{
			name: "equal timestamps both count and are 0 s apart",
			give: []ev{{id: "a", at: 0}, {id: "b", at: 0}},
			want: map[string]float64{"card_tx_count_1m": 2, "card_seconds_since_prev": 0},
		},
		{
			name: "first transaction has no predecessor",
			give: []ev{{id: "a", at: 0, amount: 500}},
			want: map[string]float64{"card_tx_count_1m": 1, "card_amount_sum_1h": 500, "card_seconds_since_prev": -1},
		},
		{
			name: "out of order: an earlier event does not see later ones",
			give: []ev{{id: "a", at: 30 * time.Second}, {id: "b", at: 0}},
			want: map[string]float64{"card_tx_count_1m": 1, "card_seconds_since_prev": -1},
		},
		{
			name: "out of order: a later event sees the earlier one that arrived late",
			give: []ev{{id: "a", at: 30 * time.Second}, {id: "b", at: 0}, {id: "c", at: 40 * time.Second}},
			want: map[string]float64{"card_tx_count_1m": 3, "card_seconds_since_prev": 10},
		},
		{
			name: "out of order: predecessor is the latest earlier event by event time",
			give: []ev{{id: "a", at: 0}, {id: "b", at: 50 * time.Second}, {id: "c", at: 20 * time.Second}},
			want: map[string]float64{"card_tx_count_1m": 2, "card_seconds_since_prev": 20},
		},
		{
			name: "sums follow the window",
			give: []ev{{id: "a", at: 0, amount: 100}, {id: "b", at: 30 * time.Minute, amount: 200}, {id: "c", at: 61 * time.Minute, amount: 50}},
			want: map[string]float64{"card_amount_sum_1h": 250, "card_amount_sum_24h": 350, "card_tx_count_1h": 2},
		},
		{
			name: "failed counts only declined and failed within 10m",
			give: []ev{
				{id: "a", at: 0, status: fraud.StatusDeclined},
				{id: "b", at: time.Minute, status: fraud.StatusFailed},
				{id: "c", at: 2 * time.Minute, status: fraud.StatusApproved},
				{id: "d", at: 10 * time.Minute},
			},
			want: map[string]float64{"card_failed_count_10m": 1},
		},
		{
			name: "distinct merchants ignore repeats and absent merchants",
			give: []ev{{id: "a", at: 0, merchant: "m1"}, {id: "b", at: time.Second, merchant: "m2"}, {id: "c", at: 2 * time.Second, merchant: "m1"}, {id: "d", at: 3 * time.Second}},
			want: map[string]float64{"card_distinct_merchants_1h": 2, "card_tx_count_1m": 4},
		},
		{
			name: "24h window is exact to the event",
			give: []ev{{id: "a", at: 0}, {id: "b", at: 24 * time.Hour}, {id: "c", at: 24*time.Hour + time.Second}},
			want: map[string]float64{"card_tx_count_24h": 2},
		},
		{
			name: "late event is scored, marked and counted while kept",
			give: []ev{{id: "a", at: 10 * time.Minute}, {id: "b", at: 0}},
			want: map[string]float64{"card_tx_count_1m": 1, "card_tx_count_1h": 1},
			late: true,
		},
		{
			name: "event within allowed lateness is not late",
			give: []ev{{id: "a", at: 2 * time.Minute}, {id: "b", at: 0}},
			want: map[string]float64{"card_tx_count_5m": 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, velocity.Options{})
			var op *velocity.Op
			for _, e := range tt.give {
				op = score(t, s, e.tx("card_1"))
			}
			for name, want := range tt.want {
				if got := feature(t, op.Features, name); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
			if op.Late != tt.late {
				t.Errorf("late = %v, want %v", op.Late, tt.late)
			}
		})
	}
}

func TestDuplicateIsNotCountedTwice(t *testing.T) {
	s := openStore(t, velocity.Options{})
	first := score(t, s, ev{id: "a", amount: 100}.tx("c"))
	again := score(t, s, ev{id: "a", amount: 100}.tx("c"))
	if first.Duplicate || !again.Duplicate {
		t.Fatalf("duplicate flags = %v, %v; want false, true", first.Duplicate, again.Duplicate)
	}
	if string(again.Stored) != `{"transaction_id":"a"}` {
		t.Errorf("stored result = %s", again.Stored)
	}
	next := score(t, s, ev{id: "b", at: time.Second, amount: 1}.tx("c"))
	if got := feature(t, next.Features, "card_tx_count_1m"); got != 2 {
		t.Errorf("count after duplicate = %v, want 2", got)
	}
	if got := feature(t, next.Features, "card_amount_sum_1h"); got != 101 {
		t.Errorf("sum after duplicate = %v, want 101", got)
	}
}

func TestConcurrentDuplicatesCountOnce(t *testing.T) {
	s := openStore(t, velocity.Options{})
	const n = 64
	var wg sync.WaitGroup
	results := make([]*velocity.Op, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			tx := ev{id: "same", amount: 7}.tx("card_c")
			op, err := s.Begin(context.Background(), &tx)
			if err != nil {
				t.Error(err)
				return
			}
			if !op.Duplicate {
				op.Commit(context.Background(), []byte("result-of-first"))
				op.Stored = []byte("result-of-first")
			}
			results[i] = op
		}()
	}
	close(start)
	wg.Wait()
	firsts := 0
	for _, op := range results {
		if op == nil {
			t.Fatal("a goroutine failed")
		}
		if !op.Duplicate {
			firsts++
		}
		if string(op.Stored) != "result-of-first" {
			t.Errorf("got stored %q, want the first result", op.Stored)
		}
	}
	if firsts != 1 {
		t.Fatalf("%d goroutines counted the transaction, want 1", firsts)
	}
	f, err := s.FeaturesAt(context.Background(), "card_c", t0)
	if err != nil {
		t.Fatal(err)
	}
	if got := feature(t, f, "card_tx_count_1m"); got != 1 {
		t.Errorf("count = %v, want 1", got)
	}
}

func TestAbortReleasesTheClaimAndUndoes(t *testing.T) {
	s := openStore(t, velocity.Options{})
	tx := ev{id: "a"}.tx("c")
	op, err := s.Begin(context.Background(), &tx)
	if err != nil {
		t.Fatal(err)
	}
	op.Abort()
	again := score(t, s, tx)
	if again.Duplicate {
		t.Fatal("an aborted transaction was remembered as seen")
	}
	if got := feature(t, again.Features, "card_tx_count_1m"); got != 1 {
		t.Errorf("count = %v, want 1: the aborted attempt was counted", got)
	}
}

func TestRestartKeepsStateAndDedup(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		score(t, s, ev{id: fmt.Sprint("tx", i), at: time.Duration(i) * time.Second, amount: 10, merchant: fmt.Sprint("m", i%2)}.tx("card_r"))
	}
	before, _ := s.FeaturesAt(context.Background(), "card_r", t0.Add(time.Minute))
	wmBefore, _ := s.Watermark()
	s.Close()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	s, err = velocity.Open(db, velocity.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after, _ := s.FeaturesAt(context.Background(), "card_r", t0.Add(time.Minute))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		t.Errorf("features after restart = %v, want %v", after, before)
	}
	if wm, ok := s.Watermark(); !ok || !wm.Equal(wmBefore) {
		t.Errorf("watermark after restart = %v, want %v", wm, wmBefore)
	}
	if op := score(t, s, ev{id: "tx3", at: 3 * time.Second, amount: 10, merchant: "m1"}.tx("card_r")); !op.Duplicate {
		t.Error("a retry after restart was not a duplicate")
	}
	op := score(t, s, ev{id: "tx9", at: 9 * time.Second, amount: 10}.tx("card_r"))
	if got := feature(t, op.Features, "card_tx_count_1m"); got != 6 {
		t.Errorf("count after restart = %v, want 6", got)
	}
	if got := feature(t, op.Features, "card_distinct_merchants_1h"); got != 2 {
		t.Errorf("distinct merchants after restart = %v, want 2", got)
	}
}

func TestLaterStatusUpdatesFailuresWithoutRecounting(t *testing.T) {
	s := openStore(t, velocity.Options{})
	score(t, s, ev{id: "pre", amount: 100}.tx("c"))
	op := score(t, s, ev{id: "pre", amount: 100, status: fraud.StatusDeclined}.tx("c"))
	if !op.Duplicate || !op.StatusUpdated {
		t.Fatalf("duplicate=%v statusUpdated=%v, want both", op.Duplicate, op.StatusUpdated)
	}
	f, _ := s.FeaturesAt(context.Background(), "c", t0)
	if got := feature(t, f, "card_failed_count_10m"); got != 1 {
		t.Errorf("failed = %v, want 1", got)
	}
	if got := feature(t, f, "card_tx_count_1m"); got != 1 {
		t.Errorf("count = %v, want 1", got)
	}
	// The same status again changes nothing.
	if op := score(t, s, ev{id: "pre", amount: 100, status: fraud.StatusDeclined}.tx("c")); op.StatusUpdated {
		t.Error("a repeated status was applied again")
	}
}

func TestEventsBeyondRetentionAreScoredNotKept(t *testing.T) {
	s := openStore(t, velocity.Options{Features: designNine(t)})
	score(t, s, ev{id: "now", at: 48 * time.Hour}.tx("c"))
	op := score(t, s, ev{id: "old", at: 0}.tx("c"))
	if !op.Late {
		t.Error("an event 48h behind stream time is not late")
	}
	if got := feature(t, op.Features, "card_tx_count_1m"); got != 1 {
		t.Errorf("the late event's own count = %v, want 1", got)
	}
	f, _ := s.FeaturesAt(context.Background(), "c", t0)
	if got := feature(t, f, "card_tx_count_1m"); got != 0 {
		t.Errorf("an event beyond retention was kept: count = %v", got)
	}
}

func TestOldLogReplaysLikeLiveTraffic(t *testing.T) {
	// Retention follows event time: a 2019 log keeps its windows however
	// old it is by the wall clock.
	s := openStore(t, velocity.Options{})
	for i := range 30 {
		score(t, s, ev{id: fmt.Sprint(i), at: time.Duration(i) * time.Hour}.tx("c"))
	}
	f, _ := s.FeaturesAt(context.Background(), "c", t0.Add(29*time.Hour))
	if got := feature(t, f, "card_tx_count_24h"); got != 24 {
		t.Errorf("24h count = %v, want 24", got)
	}
}

func TestHotCardIsBounded(t *testing.T) {
	s := openStore(t, velocity.Options{MaxEventsPerCard: 5})
	var op *velocity.Op
	for i := range 8 {
		op = score(t, s, ev{id: fmt.Sprint(i), at: time.Duration(i) * time.Second}.tx("hot"))
	}
	if got := feature(t, op.Features, "card_tx_count_1m"); got != 5 {
		t.Errorf("count = %v, want saturation at 5", got)
	}
	if got := s.Stats().TruncatedHot; got != 3 {
		t.Errorf("truncated = %d, want 3", got)
	}
}

func TestEvictedCardsReloadFromBadger(t *testing.T) {
	s := openStore(t, velocity.Options{MaxCachedCards: 256})
	for i := range 2000 {
		score(t, s, ev{id: fmt.Sprint("a", i), amount: 1}.tx(fmt.Sprint("card", i)))
	}
	if st := s.Stats(); st.Evictions == 0 || st.CachedCards > 600 {
		t.Fatalf("cache not bounded: %+v", st)
	}
	for i := range 2000 {
		op := score(t, s, ev{id: fmt.Sprint("b", i), at: time.Second, amount: 2}.tx(fmt.Sprint("card", i)))
		if got := feature(t, op.Features, "card_amount_sum_1h"); got != 3 {
			t.Fatalf("card%d sum = %v, want 3 after reload", i, got)
		}
	}
}

func TestFeaturesAtDoesNotCountANewEvent(t *testing.T) {
	s := openStore(t, velocity.Options{})
	score(t, s, ev{id: "a", at: 0, amount: 5}.tx("c"))
	score(t, s, ev{id: "b", at: 30 * time.Second, amount: 7}.tx("c"))
	tests := []struct {
		at         time.Duration
		count, sum float64
		since      float64
	}{
		{at: -time.Second, count: 0, sum: 0, since: -1},
		{at: 0, count: 1, sum: 5, since: 0},
		{at: 45 * time.Second, count: 2, sum: 12, since: 15},
		{at: 61 * time.Second, count: 1, sum: 12, since: 31},
	}
	for _, tt := range tests {
		f, err := s.FeaturesAt(context.Background(), "c", t0.Add(tt.at))
		if err != nil {
			t.Fatal(err)
		}
		if got := feature(t, f, "card_tx_count_1m"); got != tt.count {
			t.Errorf("at %v: count = %v, want %v", tt.at, got, tt.count)
		}
		if got := feature(t, f, "card_amount_sum_1h"); got != tt.sum {
			t.Errorf("at %v: sum = %v, want %v", tt.at, got, tt.sum)
		}
		if got := feature(t, f, "card_seconds_since_prev"); got != tt.since {
			t.Errorf("at %v: since_prev = %v, want %v", tt.at, got, tt.since)
		}
	}
}

// TestFeaturesOfSeveralEntities: one transaction updates each of its
// entities (card, device, card+merchant), a transaction without a device
// gets the empty values of the device's features, and all of it survives a
// restart.
func TestFeaturesOfSeveralEntities(t *testing.T) {
	set, err := features.Parse([]byte(`features:
  - {name: card_n_1h, entity: card_id, agg: count, window: {type: sliding, size: 1h}}
  - {name: device_cards_1h, entity: device_id, agg: distinct_count, field: card_id, window: {type: sliding, size: 1h}}
  - {name: device_since_prev, entity: device_id, agg: seconds_since_prev}
  - {name: card_merchant_sum_30d, entity: card_id+merchant_id, agg: sum, field: amount, window: {type: sliding, size: 30d}}
  - {name: hour, stateless: hour_of_day}
`), "t.yaml")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := velocity.Open(db, velocity.Options{Features: set, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	tx := func(id, card, device, merchant string, at time.Duration, amount int64) fraud.Transaction {
		return fraud.Transaction{ID: id, CardID: card, DeviceID: device, MerchantID: merchant, Amount: amount,
			Currency: "USD", EventTime: t0.Add(at)}
	}
	score(t, s, tx("a", "card_1", "dev_1", "m1", 0, 100))
	score(t, s, tx("b", "card_2", "dev_1", "m1", time.Minute, 200))
	score(t, s, tx("c", "card_1", "", "m1", 2*time.Minute, 300))
	s.Close()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	s, err = velocity.Open(db, velocity.Options{Features: set, SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	op := score(t, s, tx("d", "card_1", "dev_1", "m1", 20*24*time.Hour, 400))
	want := map[string]float64{"card_n_1h": 1, "device_cards_1h": 1, "device_since_prev": (20*24*time.Hour - time.Minute).Seconds(),
		"card_merchant_sum_30d": 800, "hour": 12}
	for name, w := range want {
		if got := feature(t, op.Features, name); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
	op = score(t, s, tx("e", "card_3", "", "", 20*24*time.Hour+time.Second, 1))
	if got := feature(t, op.Features, "device_since_prev"); got != -1 {
		t.Errorf("device_since_prev without a device = %v, want -1", got)
	}
}

func TestSweepDeletesQuietCardsEventsButTheAnchor(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, dir)
	s, err := velocity.Open(db, velocity.Options{Features: designNine(t), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		score(t, s, ev{id: fmt.Sprint("q", i), at: time.Duration(i) * time.Minute}.tx("quiet"))
	}
	// Another card moves stream time two days on; "quiet" sees no traffic.
	score(t, s, ev{id: "busy", at: 48 * time.Hour}.tx("busy"))
	n, err := s.Sweep(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("swept %d events, want 4 (all but the anchor)", n)
	}
	s.Close()
	db.Close()

	db = openDB(t, dir)
	defer db.Close()
	s, err = velocity.Open(db, velocity.Options{Features: designNine(t), SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f, _ := s.FeaturesAt(context.Background(), "quiet", t0.Add(48*time.Hour))
	if got := feature(t, f, "card_seconds_since_prev"); got != float64(48*3600-4*60) {
		t.Errorf("since_prev from the anchor = %v, want %v", got, 48*3600-4*60)
	}
	if got := feature(t, f, "card_tx_count_24h"); got != 0 {
		t.Errorf("24h count = %v, want 0", got)
	}
	if n, _ := s.Sweep(context.Background()); n != 0 {
		t.Errorf("a second sweep deleted %d", n)
	}
}

func TestNewCardsCostNoBadgerRead(t *testing.T) {
	s := openStore(t, velocity.Options{MaxCachedCards: 256})
	for i := range 500 {
		score(t, s, ev{id: fmt.Sprint("n", i), amount: 1}.tx(fmt.Sprint("new", i)))
	}
	if got := s.Stats().CardLoads; got != 0 {
		t.Errorf("%d Badger loads for cards never seen before, want 0", got)
	}
	// Evicted cards are known, and do load.
	for i := range 500 {
		op := score(t, s, ev{id: fmt.Sprint("m", i), at: time.Second, amount: 1}.tx(fmt.Sprint("new", i)))
		if got := feature(t, op.Features, "card_tx_count_1m"); got != 2 {
			t.Fatalf("new%d count = %v after eviction, want 2", i, got)
		}
	}
	if s.Stats().CardLoads == 0 {
		t.Error("evicted cards were not loaded from Badger")
	}
}
