package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/backfill"
	"github.com/fraudscore/scorer/backtest"
	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/train"
)

const evaluateHelp = `usage: scorer evaluate --table FILE [flags]
       scorer evaluate --log FILE --labels FILE [flags]

Scores labelled transactions with a model and rules (--model, --rules,
default: the built-in ones) and reports ROC-AUC, PR-AUC (average precision),
recall and precision at alert rates of 0.1%, 0.5% and 1%, the confusion matrix
at the model's review and decline thresholds, the score distribution and how
often each reason code was given: as text on stdout, and with --report as a
self-contained HTML page (ROC and PR curves) or JSON.

--table scores a training table from scorer backfill (.parquet, .csv, .csv.gz)
from its feature columns. --log replays a transaction log (as scorer backfill
reads it) through the real pipeline, one transaction at a time in event-time
order, with a velocity store on a fresh Badger in a temporary directory, as
the service would have answered it; it also checks that every feature the
pipeline answered equals the backfill's. --from and --until choose the rows
reported (a log's earlier rows still build the features).

flags:
`

// scoredInput is where labelled answers come from: a table or a replayed
// log. Its flags are shared by evaluate and backtest.
type scoredInput struct {
	table, log, labels, from, until, features, tmp *string
	fromT, untilT                                  time.Time
	defs                                           *features.Set
	replayTable                                    *backfill.Table // the log, read once
	scoreTable                                     *train.Table
}

func addInputFlags(fs *flag.FlagSet) *scoredInput {
	return &scoredInput{
		table:    fs.String("table", "", "labelled training table from scorer backfill: .parquet, .csv or .csv.gz"),
		log:      fs.String("log", "", "transaction log to replay through the pipeline: .jsonl, .jsonl.gz, .csv or .parquet"),
		labels:   fs.String("labels", "", "with --log: CSV of transaction_id,is_fraud"),
		from:     fs.String("from", "", "RFC 3339: report rows at or after it"),
		until:    fs.String("until", "", "RFC 3339: report rows before it"),
		features: fs.String("features", "", "feature definitions (default: the built-in ones)"),
		tmp:      fs.String("tmp-dir", "", "directory for the replay's temporary Badger (default: the system's)"),
	}
}

// check validates the flags and reads the input.
func (in *scoredInput) open(ctx context.Context, stderr io.Writer) error {
	switch {
	case (*in.table == "") == (*in.log == ""):
		return errors.New("give one of --table or --log")
	case *in.log != "" && *in.labels == "":
		return errors.New("--log needs --labels")
	case *in.table != "" && *in.labels != "":
		return errors.New("--labels goes with --log; a table carries its labels")
	}
	var err error
	if in.fromT, err = optionalTime("--from", *in.from); err != nil {
		return err
	}
	if in.untilT, err = optionalTime("--until", *in.until); err != nil {
		return err
	}
	if in.defs, err = loadFeatures(*in.features); err != nil {
		return err
	}
	start := time.Now()
	if *in.table != "" {
		t, err := train.ReadFile(*in.table)
		if err != nil {
			return err
		}
		if t.Labels == nil {
			return fmt.Errorf("%s has no label column", *in.table)
		}
		in.scoreTable = t.Between(in.fromT, in.untilT)
		fmt.Fprintf(stderr, "read %d rows (%d reported) from %s in %s\n", t.Len(), in.scoreTable.Len(), *in.table, time.Since(start).Round(time.Millisecond))
		return nil
	}
	src, err := backfill.OpenFile(*in.log)
	if err != nil {
		return err
	}
	defer src.Close()
	lg, st, err := backfill.Read(ctx, src, backfill.ReadOptions{MaxInvalid: -1})
	if err != nil {
		return err
	}
	t, err := backfill.Compute(ctx, in.defs, lg)
	if err != nil {
		return err
	}
	lr := readLabels(*in.labels)
	if lr.err != nil {
		return lr.err
	}
	unlabelled, _ := t.Join(lr.labels)
	in.replayTable = t
	fmt.Fprintf(stderr, "read %d transactions (%d invalid, %d duplicates, %d without a label) from %s in %s\n",
		st.Records, st.Invalid, st.Duplicates, unlabelled, *in.log, time.Since(start).Round(time.Millisecond))
	return nil
}

// score answers the input's rows with eng.
func (in *scoredInput) score(ctx context.Context, eng *model.Engine, stderr io.Writer) ([]backtest.Row, error) {
	if in.scoreTable != nil {
		return backtest.ScoreTable(ctx, eng, in.scoreTable)
	}
	t := in.replayTable
	r, err := backtest.Replay(ctx, *in.tmp, eng, t, func(done int) {
		if done > 0 && done%(1<<16) == 0 {
			fmt.Fprintf(stderr, "replay %s: %d of %d\n", eng.Version(), done, t.Len())
		}
	})
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(stderr, "replayed %d transactions through the pipeline with %s in %s (%.0f/s); %d answered late\n",
		t.Len(), eng.Version(), r.Took.Round(time.Millisecond), float64(t.Len())/r.Took.Seconds(), r.Late)
	if len(r.Mismatches) == 0 {
		fmt.Fprintln(stderr, "every feature the pipeline answered equals the backfill's")
	} else {
		names := make([]string, 0, len(r.Mismatches))
		for n := range r.Mismatches {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stderr, "feature %s: %d answers differ from the backfill\n", n, r.Mismatches[n])
		}
	}
	rows := r.Rows[:0]
	for _, row := range r.Rows {
		if (in.fromT.IsZero() || !row.Time.Before(in.fromT)) && (in.untilT.IsZero() || row.Time.Before(in.untilT)) {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

// loadEngine assembles an engine as the service does.
func loadEngine(rulesFile, modelFile string, defs *features.Set) (*model.Engine, model.Thresholds, error) {
	rules, m, err := model.Load(model.Files{Rules: rulesFile, Model: modelFile}, defs.Names())
	if err != nil {
		return nil, model.Thresholds{}, err
	}
	return model.NewEngine(rules, m, model.Options{}), m.Thresholds(), nil
}

// evaluateCommand runs "scorer evaluate".
func evaluateCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("evaluate", evaluateHelp, stderr)
	in := addInputFlags(fs)
	modelFile := fs.String("model", "", "model file (default: the built-in model)")
	rulesFile := fs.String("rules", "", "rules file (default: the built-in rules)")
	report := fs.String("report", "", "also write the report: .html (with ROC and PR curves) or .json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := checkReportPath(*report); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := in.open(ctx, stderr); err != nil {
		return err
	}
	eng, th, err := loadEngine(*rulesFile, *modelFile, in.defs)
	if err != nil {
		return err
	}
	rows, err := in.score(ctx, eng, stderr)
	if err != nil {
		return err
	}
	title := eng.Version() + " on " + inputName(in)
	rep, err := backtest.Evaluate(rows, title, th)
	if err != nil {
		return err
	}
	if *report != "" {
		if err := writeReport(*report, rep); err != nil {
			return err
		}
	}
	return rep.WriteText(stdout)
}

func inputName(in *scoredInput) string {
	name := *in.table + *in.log
	if *in.from != "" || *in.until != "" {
		name += fmt.Sprintf(" [%s, %s)", *in.from, *in.until)
	}
	return name
}

const backtestHelp = `usage: scorer backtest --candidate-model FILE|--candidate-rules FILE (--table FILE | --log FILE --labels FILE) [flags]

Replays labelled transactions through the active model and rules (--model,
--rules, default: the built-in ones) and through a candidate (--candidate-model,
--candidate-rules; either defaults to the active one) and prints them side by
side: alerts, precision and recall overall and per day, the frauds only one
of them catches, those both miss, and the legitimate transactions only the
candidate alerts on, so that a change is judged before it ships. Input as for
scorer evaluate.

flags:
`

// backtestCommand runs "scorer backtest".
func backtestCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("backtest", backtestHelp, stderr)
	in := addInputFlags(fs)
	modelFile := fs.String("model", "", "active model file (default: the built-in model)")
	rulesFile := fs.String("rules", "", "active rules file (default: the built-in rules)")
	candModel := fs.String("candidate-model", "", "candidate model file (default: the active one)")
	candRules := fs.String("candidate-rules", "", "candidate rules file (default: the active ones)")
	maxIDs := fs.Int("max-ids", 20, "transaction ids listed per group of frauds")
	jsonOut := fs.String("json", "", "also write the comparison as JSON to this file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *candModel == "" && *candRules == "" {
		return errors.New("give --candidate-model or --candidate-rules (or both)")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := in.open(ctx, stderr); err != nil {
		return err
	}
	active, _, err := loadEngine(*rulesFile, *modelFile, in.defs)
	if err != nil {
		return fmt.Errorf("active: %w", err)
	}
	candidate, _, err := loadEngine(cmp.Or(*candRules, *rulesFile), cmp.Or(*candModel, *modelFile), in.defs)
	if err != nil {
		return fmt.Errorf("candidate: %w", err)
	}
	a, err := in.score(ctx, active, stderr)
	if err != nil {
		return err
	}
	c, err := in.score(ctx, candidate, stderr)
	if err != nil {
		return err
	}
	cmp, err := backtest.Compare(a, c, active.Version(), candidate.Version())
	if err != nil {
		return err
	}
	if *jsonOut != "" {
		if err := writeFileAtomic(*jsonOut, cmp.WriteJSON); err != nil {
			return err
		}
	}
	return cmp.WriteText(stdout, *maxIDs)
}
