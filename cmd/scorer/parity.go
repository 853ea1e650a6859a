package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
)

const parityHelp = `usage: scorer parity --log FILE [--target URL] [flags]

Compares the features a running service stored for each transaction of a log
(GET /transactions/{transaction_id}: what POST /score or the Kafka consumer
answered) with those scorer backfill computes for the same log, and reports
per feature how many differ, at what rate and why, as Chronon's online/offline
consistency metrics do. The backfill's value counts every event of the log up
to the transaction's event time; the service's, the events it had when it
scored the transaction. --features must be the service's definitions.

The log is read as scorer backfill reads it (.jsonl, .jsonl.gz, .csv or
.parquet; card numbers in identifiers become the tokens the service keeps),
and its order is taken as the order in which the service got the
transactions. A difference is put down to the first cause that applies:

  late          the service answered the transaction late: its event time was
                older than the watermark (stream time minus allowed lateness)
  out of order  an event of the same entity with an earlier event time comes
                after it in the log: the service had not seen it yet
  missing       an event of the same entity at or before its event time has no
                stored result: the service never scored it
  duplicate     its transaction_id, or that of an event of the same entity at
                or before it, is repeated in the log
  truncated     the entity had --max-events-per-card events within the longest
                window: the service dropped the oldest
  unexplained   none of these: a difference to look into

A transaction without a stored result (never scored, or scored longer ago
than the service's --dedup-retention) is counted, not compared.

Online state (--state): for each card of the log, the features that
GET /cards/{card_id}/velocity answers as of the card's last event of the log
are compared with the backfill's for that event (all of the card's but
seconds_since_prev), where the window lies within the retention of the log's
last event (the service's stream time is taken to be that). After scorer
backfill --correct they agree; stored results are history and keep their
differences.

--replay first sends every transaction of the log to POST /score, one at a
time in the log's order: for trying this on a fresh service.

The report is text on stdout, or JSON with --json. Card numbers never appear
in it.

flags:
`

// The causes of a difference, in the order they are put down.
const (
	causeLate = iota
	causeOutOfOrder
	causeMissing
	causeDuplicate
	causeTruncated
	causeUnexplained
	numCauses
)

var (
	causeNames = [numCauses]string{"late", "out of order", "missing", "duplicate", "truncated", "unexplained"}
	causeKeys  = [numCauses]string{"late", "out_of_order", "missing", "duplicate", "truncated", "unexplained"}
)

// causeCounts counts differences by cause; in JSON an object keyed by
// causeKeys, in that order.
type causeCounts [numCauses]int

func (c causeCounts) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, n := range c {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, "%q:%d", causeKeys[i], n)
	}
	return append(b, '}'), nil
}

func (c *causeCounts) UnmarshalJSON(b []byte) error {
	var m map[string]int
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	for i, k := range causeKeys {
		c[i] = m[k]
	}
	return nil
}

// firstCause is the first cause whose bit is set in flags.
func firstCause(flags uint8) int {
	for c := range causeUnexplained {
		if flags&(1<<c) != 0 {
			return c
		}
	}
	return causeUnexplained
}

// parityReport is what scorer parity reports.
type parityReport struct {
	Target       string        `json:"target"`
	Transactions int           `json:"transactions"` // distinct valid transactions of the log
	Invalid      int64         `json:"invalid"`      // records of the log that are not valid transactions
	Repeated     int           `json:"repeated_ids"` // transaction ids found more than once in the log
	Replay       *replayCounts `json:"replay,omitempty"`
	Compared     int           `json:"compared"`  // transactions with a stored result
	NotFound     int           `json:"not_found"` // transactions without one
	Mismatched   int           `json:"mismatched"`
	Rate         float64       `json:"mismatch_rate"` // Mismatched / Compared
	// Causes counts the mismatched transactions by the first cause of
	// their differences.
	Causes   causeCounts         `json:"causes"`
	Features []featureParity     `json:"features"`
	Examples map[string][]string `json:"examples,omitempty"` // transaction ids by cause key
	State    *stateParity        `json:"state,omitempty"`
}

type featureParity struct {
	Name       string      `json:"name"`
	Compared   int         `json:"compared"`
	Absent     int         `json:"absent"` // stored results without this feature
	Mismatches int         `json:"mismatches"`
	Rate       float64     `json:"mismatch_rate"`
	Causes     causeCounts `json:"causes"`
}

type replayCounts struct {
	Sent       int `json:"sent"`
	Scored     int `json:"scored"`
	Duplicates int `json:"duplicates"` // answered from a stored result
	Late       int `json:"late"`
	Refused    int `json:"refused"` // 4xx answers other than auth
}

// stateParity compares the online state of each card with the batch.
type stateParity struct {
	Cards         int            `json:"cards"`          // cards of the log
	Compared      int            `json:"compared"`       // cards with a value compared
	Differ        int            `json:"differ"`         // cards with a value that differs
	PastRetention int            `json:"past_retention"` // values not compared: the window is past retention
	Features      []stateFeature `json:"features"`
	Examples      []string       `json:"examples,omitempty"` // card ids
}

type stateFeature struct {
	Name       string `json:"name"`
	Compared   int    `json:"compared"`
	Mismatches int    `json:"mismatches"`
}

// storedResults are the service's stored results of a table's rows.
type storedResults struct {
	found []bool
	late  []bool
	vals  []float64 // rows × features; NaN where a result lacks the feature
}

// parityCommand runs "scorer parity".
func parityCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("parity", parityHelp, stderr)
	logFile := fs.String("log", "", "transaction log the service got: .jsonl, .jsonl.gz, .csv or .parquet")
	target := fs.String("target", "http://127.0.0.1:8080", "the service's base URL")
	tokenFile := fs.String("token-file", "", "file holding a bearer token of the service (one of its --auth-tokens-file), when auth is on")
	featuresFile := fs.String("features", "", "the service's feature definitions file (default: the built-in definitions)")
	replay := fs.Bool("replay", false, "first send the log's transactions to POST /score, one at a time in the log's order")
	state := fs.Bool("state", true, "also compare each card's online state (GET /cards/{card_id}/velocity) with the batch")
	asJSON := fs.Bool("json", false, "write the report as JSON")
	concurrency := fs.Int("concurrency", 8, "requests in flight at once while fetching stored results")
	maxEvents := fs.Int("max-events-per-card", 10_000, "the service's --max-events-per-card, to tell truncated entities")
	examples := fs.Int("examples", 5, "transaction ids shown per cause (and cards whose state differs)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *logFile == "":
		return errors.New("--log is required")
	case *concurrency < 1 || *concurrency > 256:
		return fmt.Errorf("--concurrency %d: want 1 to 256", *concurrency)
	case *maxEvents < 1:
		return fmt.Errorf("--max-events-per-card %d: want at least 1", *maxEvents)
	case *examples < 0:
		return fmt.Errorf("--examples %d: must not be negative", *examples)
	}
	client, err := newServiceClient("--target", *target, *tokenFile)
	if err != nil {
		return err
	}
	set, err := loadFeatures(*featuresFile)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	src, err := backfill.OpenFile(*logFile)
	if err != nil {
		return err
	}
	defer src.Close()
	log, st, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: -1})
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	if log.Len() == 0 {
		return fmt.Errorf("parity: %s has no valid transaction (%d records, %d invalid)", *logFile, st.Records, st.Invalid)
	}
	table, err := backfill.Compute(ctx, set, log)
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	fmt.Fprintf(stderr, "parity: read %d records: %d invalid, %d repeated, %d transactions; computed their features in %s\n",
		st.Records, st.Invalid, st.Duplicates, log.Len(), time.Since(start).Round(time.Millisecond))

	var rc *replayCounts
	if *replay {
		if rc, err = replayLog(ctx, client, log, stderr); err != nil {
			return fmt.Errorf("parity: replay: %w", err)
		}
	}
	start = time.Now()
	stored, err := fetchStored(ctx, client, set, table, *concurrency)
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	fmt.Fprintf(stderr, "parity: fetched %d stored results from %s in %s\n", table.Len(), fraud.MaskString(client.base), time.Since(start).Round(time.Millisecond))
	rep, err := compareParity(set, log, table, stored, *maxEvents, *examples)
	if err != nil {
		return fmt.Errorf("parity: %w", err)
	}
	rep.Target, rep.Invalid, rep.Replay = fraud.MaskString(client.base), st.Invalid, rc
	if *state {
		if rep.State, err = compareState(ctx, client, set, table, *concurrency, *examples); err != nil {
			return fmt.Errorf("parity: online state: %w", err)
		}
	}
	if *asJSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(stdout, "%s\n", b)
		return err
	}
	return writeParityText(stdout, rep)
}

// forEach calls f(i) for i in [0, n) on workers goroutines, and returns
// the first error, after which the others stop taking work.
func forEach(ctx context.Context, n, workers int, f func(ctx context.Context, i int) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := f(ctx, i); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// replayLog sends each transaction of log to POST /score, in the log's
// order, one at a time, so that the service sees them in that order.
func replayLog(ctx context.Context, c *serviceClient, log *backfill.Log, stderr io.Writer) (*replayCounts, error) {
	start := time.Now()
	var rc replayCounts
	var firstRefusal error
	for i := range log.Len() {
		tx := log.Tx(i)
		body, err := json.Marshal(&tx)
		if err != nil {
			return nil, err
		}
		status, b, err := c.do(ctx, http.MethodPost, "/score", "application/json", func() io.Reader { return bytes.NewReader(body) })
		if err != nil {
			return nil, err
		}
		rc.Sent++
		switch {
		case status == http.StatusOK:
			var res struct{ Late, Duplicate bool }
			if err := json.Unmarshal(b, &res); err != nil {
				return nil, fmt.Errorf("POST /score: the answer is not the JSON expected: %w", err)
			}
			if res.Duplicate {
				rc.Duplicates++
			} else {
				rc.Scored++
			}
			if res.Late {
				rc.Late++
			}
		case status == http.StatusUnauthorized || status == http.StatusForbidden || status >= 500 || status < 400:
			return nil, answerError(http.MethodPost, c.base+"/score", status, b)
		default:
			rc.Refused++
			if firstRefusal == nil {
				firstRefusal = answerError(http.MethodPost, c.base+"/score", status, b)
			}
		}
	}
	fmt.Fprintf(stderr, "parity: replayed %d transactions in %s: %d scored (%d late), %d already scored, %d refused\n",
		rc.Sent, time.Since(start).Round(time.Millisecond), rc.Scored, rc.Late, rc.Duplicates, rc.Refused)
	if firstRefusal != nil {
		fmt.Fprintf(stderr, "parity: the first refusal: %v\n", firstRefusal)
	}
	return &rc, nil
}

// fetchStored fetches the stored result of each row of table.
func fetchStored(ctx context.Context, c *serviceClient, set *features.Set, table *backfill.Table, workers int) (*storedResults, error) {
	n, nf := table.Len(), set.Len()
	s := &storedResults{found: make([]bool, n), late: make([]bool, n), vals: make([]float64, n*nf)}
	index := make(map[string]int, nf)
	for i, name := range set.Names() {
		index[name] = i
	}
	err := forEach(ctx, n, workers, func(ctx context.Context, r int) error {
		var res fraud.Result
		ok, err := c.getJSON(ctx, "/transactions/"+url.PathEscape(table.Tx(r).ID), &res)
		if err != nil || !ok {
			return err
		}
		s.found[r], s.late[r] = true, res.Late
		vals := s.vals[r*nf : (r+1)*nf]
		for i := range vals {
			vals[i] = math.NaN()
		}
		for _, f := range res.Features {
			if i, ok := index[f.Name]; ok {
				vals[i] = f.Value
			}
		}
		return nil
	})
	return s, err
}

// compareParity compares the stored results with the batch's rows and puts
// each difference down to its cause. log is the log in the order read (the
// order the service got it), table its backfill.
func compareParity(set *features.Set, log *backfill.Log, table *backfill.Table, stored *storedResults, maxEvents, examples int) (*parityReport, error) {
	n, nf, ne := table.Len(), set.Len(), len(set.Entities())
	times := make([]int64, n)
	for r := range n {
		times[r] = table.Tx(r).EventTime.UnixNano()
	}
	pos, err := arrivalOrder(log, table)
	if err != nil {
		return nil, err
	}
	repeated := make(map[string]bool, len(log.Repeated()))
	for _, id := range log.Repeated() {
		repeated[id] = true
	}
	rep := make([]bool, n)
	for r := range n {
		rep[r] = repeated[table.Tx(r).ID]
	}
	// flags[r*ne+e]: the causes that apply to row r's entity e.
	flags := make([]uint8, n*ne)
	for e := range ne {
		groups := map[string][]int{}
		for r := range n {
			tx := table.Tx(r)
			if key, ok := set.Key(e, &tx); ok {
				groups[key] = append(groups[key], r)
			}
		}
		for _, rows := range groups {
			markEntity(rows, times, pos, stored.found, rep, int64(set.Retention()), maxEvents, func(r int, f uint8) { flags[r*ne+e] = f })
		}
	}

	out := &parityReport{Transactions: n, Repeated: len(log.Repeated()), Features: make([]featureParity, nf)}
	for i, name := range set.Names() {
		out.Features[i].Name = name
	}
	defs := set.Defs()
	for r := range n {
		if !stored.found[r] {
			out.NotFound++
			continue
		}
		out.Compared++
		var all uint8 // every entity's causes, for stateless features
		for e := range ne {
			all |= flags[r*ne+e]
		}
		var late uint8
		if stored.late[r] {
			late = 1 << causeLate
		}
		var differ uint8
		mismatched := false
		batch := table.Row(r)
		for i := range nf {
			online := stored.vals[r*nf+i]
			fp := &out.Features[i]
			if math.IsNaN(online) {
				fp.Absent++
				continue
			}
			fp.Compared++
			if asServed(batch[i]) == online {
				continue
			}
			f := all
			if !defs[i].IsStateless() {
				f = flags[r*ne+defs[i].Entity]
			}
			f |= late
			fp.Mismatches++
			fp.Causes[firstCause(f)]++
			differ |= f
			mismatched = true
		}
		if mismatched {
			out.Mismatched++
			c := firstCause(differ)
			out.Causes[c]++
			if len(out.Examples[causeKeys[c]]) < examples {
				if out.Examples == nil {
					out.Examples = map[string][]string{}
				}
				out.Examples[causeKeys[c]] = append(out.Examples[causeKeys[c]], fraud.MaskString(table.Tx(r).ID))
			}
		}
	}
	out.Rate = rate(out.Mismatched, out.Compared)
	for i := range out.Features {
		out.Features[i].Rate = rate(out.Features[i].Mismatches, out.Features[i].Compared)
	}
	return out, nil
}

// asServed is v as the service writes it in JSON: NaN and infinities as 0.
func asServed(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return v
}

func rate(n, of int) float64 {
	if of == 0 {
		return 0
	}
	return float64(n) / float64(of)
}

// arrivalOrder returns, for each row of table, the position of its
// transaction in log. Compute sorts the log stably by event time, so the
// rows are the positions sorted by (event time, position).
func arrivalOrder(log *backfill.Log, table *backfill.Table) ([]int, error) {
	n := log.Len()
	pos := make([]int, n)
	t := make([]int64, n)
	for i := range n {
		pos[i], t[i] = i, log.Tx(i).EventTime.UnixNano()
	}
	slices.SortStableFunc(pos, func(a, b int) int { return cmp.Compare(t[a], t[b]) })
	if table.Len() != n {
		return nil, fmt.Errorf("the table has %d rows for %d transactions", table.Len(), n)
	}
	for r := range n {
		if table.Tx(r).ID != log.Tx(pos[r]).ID {
			return nil, fmt.Errorf("row %d of the table is not the transaction expected", r)
		}
	}
	return pos, nil
}

// markEntity sets the causes that apply to each event of one entity: rows
// are the entity's rows, in event-time order.
func markEntity(rows []int, times []int64, pos []int, found, repeated []bool, retention int64, maxEvents int, set func(r int, f uint8)) {
	lastPos := -1                // the latest arrival among events strictly earlier
	missing, dup := false, false // among events strictly earlier
	lo := 0                      // the first event within retention of the current time
	for i := 0; i < len(rows); {
		t := times[rows[i]]
		j := i
		notFound, dupHere := 0, false
		for ; j < len(rows) && times[rows[j]] == t; j++ {
			if !found[rows[j]] {
				notFound++
			}
			dupHere = dupHere || repeated[rows[j]]
		}
		for lo < i && times[rows[lo]] <= t-retention {
			lo++
		}
		for _, r := range rows[i:j] {
			var f uint8
			if lastPos > pos[r] {
				f |= 1 << causeOutOfOrder
			}
			self := 0
			if !found[r] {
				self = 1
			}
			if missing || notFound > self {
				f |= 1 << causeMissing
			}
			if dup || dupHere {
				f |= 1 << causeDuplicate
			}
			if j-lo >= maxEvents {
				f |= 1 << causeTruncated
			}
			set(r, f)
		}
		for _, r := range rows[i:j] {
			lastPos = max(lastPos, pos[r])
		}
		missing = missing || notFound > 0
		dup = dup || dupHere
		i = j
	}
}

// compareState compares each card's online state, as of its last event
// in the table, with the table's row of that event.
func compareState(ctx context.Context, c *serviceClient, set *features.Set, table *backfill.Table, workers, examples int) (*stateParity, error) {
	e := set.EntityIndex("card_id")
	if e < 0 {
		return nil, nil // no feature is kept per card
	}
	n := table.Len()
	last := map[string]int{}
	for r := range n {
		last[table.Tx(r).CardID] = r // rows are in event-time order
	}
	cards := make([]string, 0, len(last))
	for card := range last {
		cards = append(cards, card)
	}
	slices.Sort(cards)
	defs := set.Defs()
	var idx []int
	for _, i := range set.OfEntity(e) {
		if defs[i].Agg != features.SincePrev {
			idx = append(idx, i)
		}
	}
	newest := table.Tx(n - 1).EventTime
	horizon := newest.Add(-set.Retention())
	sp := &stateParity{Cards: len(cards), Features: make([]stateFeature, len(idx))}
	for k, i := range idx {
		sp.Features[k].Name = defs[i].Name
	}
	var mu sync.Mutex
	err := forEach(ctx, len(cards), workers, func(ctx context.Context, k int) error {
		r := last[cards[k]]
		at := table.Tx(r).EventTime
		var want []int // positions in idx of the values within retention
		for j, i := range idx {
			if !at.Add(-windowSpan(&defs[i], set)).Before(horizon) {
				want = append(want, j)
			}
		}
		if len(want) == 0 {
			mu.Lock()
			sp.PastRetention += len(idx)
			mu.Unlock()
			return nil
		}
		var v struct{ Features fraud.Features }
		path := "/cards/" + url.PathEscape(cards[k]) + "/velocity?at=" + url.QueryEscape(at.Format(time.RFC3339Nano))
		if _, err := c.getJSON(ctx, path, &v); err != nil {
			return err
		}
		batch := table.Row(r)
		mu.Lock()
		defer mu.Unlock()
		sp.PastRetention += len(idx) - len(want)
		sp.Compared++
		differs := false
		for _, j := range want {
			sf := &sp.Features[j]
			sf.Compared++
			if got, ok := v.Features.Get(sf.Name); !ok || got != asServed(batch[idx[j]]) {
				sf.Mismatches++
				differs = true
			}
		}
		if differs {
			sp.Differ++
			if len(sp.Examples) < examples {
				sp.Examples = append(sp.Examples, fraud.MaskString(cards[k]))
			}
		}
		return nil
	})
	slices.Sort(sp.Examples)
	return sp, err
}

// windowSpan is how far back from a time the window of d can reach.
func windowSpan(d *features.Def, set *features.Set) time.Duration {
	switch d.Window.Type {
	case features.Sliding, features.Tumbling:
		return d.Window.Size
	case features.Session:
		return d.Window.MaxSpan
	}
	return set.Retention()
}

// writeParityText writes the report as text.
func writeParityText(w io.Writer, rep *parityReport) error {
	fmt.Fprintf(w, "parity: %d transactions in the log (%d invalid records, %d repeated ids); stored results at %s: %d compared, %d not found\n",
		rep.Transactions, rep.Invalid, rep.Repeated, rep.Target, rep.Compared, rep.NotFound)
	if rc := rep.Replay; rc != nil {
		fmt.Fprintf(w, "replayed first: %d sent, %d scored (%d late), %d already scored, %d refused\n",
			rc.Sent, rc.Scored, rc.Late, rc.Duplicates, rc.Refused)
	}
	fmt.Fprintf(w, "transactions with a feature that differs: %d (%.3f%%)", rep.Mismatched, 100*rep.Rate)
	for c, k := range rep.Causes {
		fmt.Fprintf(w, "; %s %d", causeNames[c], k)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w)
	width := len("feature")
	for _, f := range rep.Features {
		width = max(width, len(f.Name))
	}
	fmt.Fprintf(w, "%-*s  %8s  %7s  %8s", width, "feature", "compared", "differ", "rate")
	for _, name := range causeNames {
		fmt.Fprintf(w, "  %s", name)
	}
	fmt.Fprintln(w)
	absent := 0
	for _, f := range rep.Features {
		fmt.Fprintf(w, "%-*s  %8d  %7d  %7.3f%%", width, f.Name, f.Compared, f.Mismatches, 100*f.Rate)
		for c, k := range f.Causes {
			fmt.Fprintf(w, "  %*d", len(causeNames[c]), k)
		}
		fmt.Fprintln(w)
		if f.Absent > 0 {
			absent++
		}
	}
	if absent > 0 {
		fmt.Fprintf(w, "\n%d features are missing from some stored results: is the service running the same --features?\n", absent)
	}
	if len(rep.Examples) > 0 {
		fmt.Fprintln(w, "\nexamples (transaction ids):")
		for c, k := range causeKeys {
			if ids := rep.Examples[k]; len(ids) > 0 {
				fmt.Fprintf(w, "  %s: %s\n", causeNames[c], strings.Join(ids, ", "))
			}
		}
	}
	if sp := rep.State; sp != nil {
		fmt.Fprintf(w, "\nonline state (GET /cards/{card_id}/velocity as of each card's last event of the log): %d cards, %d compared, %d differ; %d values past retention not compared\n",
			sp.Cards, sp.Compared, sp.Differ, sp.PastRetention)
		for _, f := range sp.Features {
			if f.Mismatches > 0 {
				fmt.Fprintf(w, "  %s: %d of %d differ\n", f.Name, f.Mismatches, f.Compared)
			}
		}
		if len(sp.Examples) > 0 {
			fmt.Fprintf(w, "  cards that differ, e.g.: %s\n", strings.Join(sp.Examples, ", "))
		}
	}
	return nil
}
