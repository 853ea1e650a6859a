package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/kafkaconn"
)

const backfillHelp = `usage: scorer backfill --input FILE --out FILE.parquet|FILE.csv [flags]
       scorer backfill --topic T --brokers HOST:PORT,... --out FILE.parquet|FILE.csv [flags]
       scorer backfill --input FILE|--topic T --correct [--since 72h|--from T] --target URL --admin-token-file FILE

Computes every feature of the definitions (--features, default: the built-in
ones) for each distinct transaction_id of a log, as of the transaction's event
time, over every event of the log, exactly as the online store does for the log
replayed in event-time order: one row per transaction, in event-time order,
with columns transaction_id, card_id, event_time, each feature by name, and
label when --labels is given. Features see only the log: for exact values from
a time T on, start the log the longest window (7 days for the default
features) before T.

Input: --input by extension: .jsonl, .jsonl.gz (one transaction a line, the
service's schema), .csv (a header naming the fields; event_time RFC 3339) or
.parquet (columns by field name; event_time a string or a timestamp). Or a
Kafka topic: every partition, no consumer group, nothing committed, between
--from-offset/--to-offset or --from-time/--to-time (Kafka record timestamps).
Records are validated as POST /score does, except for the clock: card numbers
in transaction_id, card_id, merchant_id and device_id are first replaced by
tokens (they never reach the output); invalid records are skipped and counted
by reason; of repeated transaction_ids the first counts.

Output by extension: .parquet (event_time a UTC timestamp in microseconds,
features DOUBLE, label INT32, zstd) or .csv (event_time RFC 3339 with
nanoseconds). With --labels (CSV transaction_id,is_fraud), rows without a label
are left out and counted. The file appears only when complete.

Correction (--correct): instead of a table, the log's transactions with an
event_time at or after now minus --since (or --from) go to a running service's
POST /admin/velocity/correct (--target, with an admin token from
--admin-token-file), which makes the online state of every entity in them,
from that instant on, what the log says: events the service never got are
added, events the log does not have are removed. Events before the span (or
past the service's retention, whichever is later), stored results and emitted
windows stay as they are. Only the span's transactions are sent. Safe while
the service runs, and idempotent: run it again after a failure. The service's
answer (JSON: transactions, invalid, entities, added, removed) goes to stdout.

flags:
`

// backfillCommand runs "scorer backfill".
func backfillCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backfill", backfillHelp, stderr)
	input := fs.String("input", "", "transaction log: .jsonl, .jsonl.gz, .csv or .parquet")
	topic := fs.String("topic", "", "Kafka topic to read instead of --input")
	brokers := fs.String("brokers", "127.0.0.1:9092", "comma-separated Kafka brokers (with --topic)")
	var tlsCfg kafkaconn.TLS
	var saslCfg kafkaconn.SASL
	kafkaFlags(fs, &tlsCfg, &saslCfg)
	fromOffset := fs.Int64("from-offset", 0, "first offset read in every partition (with --topic)")
	toOffset := fs.Int64("to-offset", -1, "last offset read in every partition, inclusive; -1: the end as of the start (with --topic)")
	fromTime := fs.String("from-time", "", "RFC 3339: read records with a Kafka timestamp at or after it (with --topic)")
	toTime := fs.String("to-time", "", "RFC 3339: read records with a Kafka timestamp at or before it (with --topic)")
	featuresFile := fs.String("features", "", "feature definitions file (default: the built-in definitions)")
	labelsFile := fs.String("labels", "", "CSV of transaction_id,is_fraud to add a label column (rows without one are left out)")
	out := fs.String("out", "", "output table: .parquet or .csv")
	maxInvalid := fs.Int64("max-invalid", -1, "fail, writing nothing, when more records than this are invalid; -1: no limit")
	progress := fs.Bool("progress", false, "report progress on stderr even when it is not a terminal")
	var corr correctFlags
	corr.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	correctFrom, err := corr.check(set, time.Now())
	if err != nil {
		return err
	}
	format := strings.ToLower(filepath.Ext(*out))
	switch {
	case *out == "" && !corr.on:
		return errors.New("--out is required")
	case !corr.on && format != ".parquet" && format != ".csv":
		return fmt.Errorf("--out %s: want a .parquet or .csv file", *out)
	case (*input == "") == (*topic == ""):
		return errors.New("give one of --input or --topic")
	case *input != "" && (set["from-offset"] || set["to-offset"] || set["from-time"] || set["to-time"]):
		return errors.New("--from-offset, --to-offset, --from-time and --to-time go with --topic")
	case (set["from-offset"] || set["to-offset"]) && (set["from-time"] || set["to-time"]):
		return errors.New("bound the topic by offsets or by times, not both")
	case *fromOffset < 0:
		return fmt.Errorf("--from-offset %d: must not be negative", *fromOffset)
	case *toOffset < -1 || (*toOffset >= 0 && *toOffset < *fromOffset):
		return fmt.Errorf("--to-offset %d: want -1 or an offset at or after --from-offset", *toOffset)
	}
	if *labelsFile != "" {
		if _, err := os.Stat(*labelsFile); err != nil {
			return fmt.Errorf("--labels: %w", err)
		}
	}
	defs := features.Default()
	if *featuresFile != "" {
		var err error
		if defs, err = features.Load(*featuresFile); err != nil {
			return err
		}
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	var src backfill.Source
	if *input != "" {
		src, err = backfill.OpenFile(*input)
	} else {
		cluster, err := kafkaCluster(*brokers, tlsCfg, saslCfg)
		if err != nil {
			return err
		}
		defer cluster.Close()
		o := backfill.TopicOptions{Cluster: cluster, Topic: *topic, FromOffset: *fromOffset}
		if *toOffset >= 0 {
			o.UntilOffset = *toOffset + 1
		}
		if o.FromTime, err = optionalTime("--from-time", *fromTime); err != nil {
			return err
		}
		if o.ToTime, err = optionalTime("--to-time", *toTime); err != nil {
			return err
		}
		src, err = backfill.OpenTopic(ctx, o)
	}
	if err != nil {
		return err
	}
	defer src.Close()

	// Labels are read beside the log, on another core.
	labels := make(chan labelsRead, 1)
	if *labelsFile != "" {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { labels <- readLabels(*labelsFile) })
	}
	pr := startProgress(stderr, *progress, isTerminal(stderr), start)
	defer pr.stop()
	log, st, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: *maxInvalid, Progress: pr.read})
	if err != nil {
		pr.stop()
		if errors.Is(err, backfill.ErrTooManyInvalid) {
			reportRead(stderr, st, time.Since(start))
			err = fmt.Errorf("%w (--max-invalid %d); nothing written", err, *maxInvalid)
		}
		return fmt.Errorf("backfill: %w", err)
	}
	readTime := time.Since(start)
	if corr.on {
		pr.stop()
		reportRead(stderr, st, readTime)
		return correctService(ctx, &corr, log, correctFrom, stdout, stderr)
	}
	pr.phase("computing")
	table, err := backfill.Compute(ctx, defs, log)
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	var lr labelsRead
	if *labelsFile != "" {
		if lr = <-labels; lr.err != nil {
			return fmt.Errorf("backfill: %w", lr.err)
		}
	}
	pr.phase("writing")
	unlabelled, unmatched := 0, 0
	if lr.labels != nil {
		unlabelled, unmatched = table.Join(lr.labels)
	}
	n, err := writeTable(*out, format, table)
	pr.stop()
	if err != nil {
		return fmt.Errorf("backfill: %w", err)
	}
	reportRead(stderr, st, readTime)
	if lr.labels != nil {
		fmt.Fprintf(stderr, "backfill: labels: %d rows without a label left out, %d labels for no transaction of the log, %d repeated labels ignored\n",
			unlabelled, unmatched, lr.dups)
	}
	el := time.Since(start)
	fmt.Fprintf(stderr, "backfill: wrote %d rows of %d features to %s; %s elapsed, %.0f rows/s\n",
		n, defs.Len(), *out, el.Round(time.Millisecond), float64(st.Records)/el.Seconds())
	return nil
}

type labelsRead struct {
	labels backfill.Labels
	dups   int
	err    error
}

func readLabels(path string) labelsRead {
	f, err := os.Open(path)
	if err != nil {
		return labelsRead{err: err}
	}
	defer f.Close()
	l, dups, err := backfill.ReadLabels(f)
	if err != nil {
		return labelsRead{err: fmt.Errorf("%s: %w", path, err)}
	}
	return labelsRead{labels: l, dups: dups}
}

// reportRead writes what Read counted. Reasons never hold values.
func reportRead(w io.Writer, st backfill.Stats, el time.Duration) {
	fmt.Fprintf(w, "backfill: read %d records in %s: %d invalid, %d duplicate transaction ids (first kept), %d distinct transactions\n",
		st.Records, el.Round(time.Millisecond), st.Invalid, st.Duplicates, st.Valid())
	fmt.Fprintf(w, "backfill: %d card numbers in identifiers replaced by tokens\n", st.Tokens)
	for _, k := range st.ReasonsByCount() {
		fmt.Fprintf(w, "backfill: invalid: %s: %d\n", k, st.Reasons[k])
	}
}

// writeTable writes t to path in format, whole or not at all.
func writeTable(path, format string, t *backfill.Table) (int, error) {
	var n int
	err := writeFileAtomic(path, func(w io.Writer) (err error) {
		if format == ".parquet" {
			n, err = backfill.WriteParquet(w, t)
		} else {
			n, err = backfill.WriteCSV(w, t)
		}
		return err
	})
	return n, err
}

func optionalTime(flagName, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := fraud.ParseTime(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", flagName, err)
	}
	return t, nil
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progressLine reports the records read, their rate and the elapsed time
// on stderr: on a terminal, one line rewritten in place twice a second;
// elsewhere (with --progress), a line every five seconds.
type progressLine struct {
	w       io.Writer
	start   time.Time
	records atomic.Int64
	name    atomic.Value // string: the phase
	done    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

func startProgress(w io.Writer, asked, terminal bool, start time.Time) *progressLine {
	p := &progressLine{w: w, start: start, done: make(chan struct{})}
	p.name.Store("reading")
	if !asked && !terminal {
		return p
	}
	every, prefix, clear := 5*time.Second, "", ""
	if terminal {
		every, prefix, clear = 500*time.Millisecond, "\r\x1b[K", "\r\x1b[K"
	}
	p.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-p.done:
				fmt.Fprint(p.w, clear)
				return
			case <-tick.C:
				el := time.Since(p.start)
				n := p.records.Load()
				line := fmt.Sprintf("backfill: %s: %d records read, %.0f/s, %s elapsed",
					p.name.Load(), n, float64(n)/el.Seconds(), el.Round(100*time.Millisecond))
				if terminal {
					fmt.Fprint(p.w, prefix+line)
				} else {
					fmt.Fprintln(p.w, line)
				}
			}
		}
	})
	return p
}

func (p *progressLine) read(n int64)      { p.records.Store(n) }
func (p *progressLine) phase(name string) { p.name.Store(name) }

// stop ends the reports and waits for the last; it may be called again.
func (p *progressLine) stop() {
	p.once.Do(func() { close(p.done) })
	p.wg.Wait()
}
