package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/gbt"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/train"
)

const trainHelp = `usage: scorer train --table FILE --out MODEL.json [flags]

Trains a model on a training table from scorer backfill (.parquet, .csv or
.csv.gz, with a label column): it splits the table by event time (the latest
--valid-share, or from --split-at on, is held out), trains on the earlier part,
picks the review and decline thresholds on the later part for the business
targets, and writes a versioned model file (feature list, thresholds, training
metadata, validation metrics) that scorer serve loads with --model, a
reload or --shadow-model. It prints the validation report.

The model reads the table's columns that are features of the definitions
(--features, default: the built-in ones), or those of --model-features. Its
thresholds are capped so that the rules (--rules, default: the built-in ones)
still reach them: a rule's score must reach its decision's threshold.

Kinds: gbt (gradient-boosted trees, the default) and logistic (a regularised
logistic regression, trained with gonum's L-BFGS).

flags:
`

// trainCommand runs "scorer train".
func trainCommand(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("train", trainHelp, stderr)
	tablePath := fs.String("table", "", "training table from scorer backfill: .parquet, .csv or .csv.gz, with labels")
	out := fs.String("out", "", "model file to write (JSON)")
	kind := fs.String("kind", "gbt", "gbt or logistic")
	version := fs.String("version", "", "model version (default: KIND-YYYYMMDD-HHMMSS, now in UTC)")
	featuresFile := fs.String("features", "", "feature definitions the model will be served with (default: the built-in ones)")
	rulesFile := fs.String("rules", "", "rules the model will be served with (default: the built-in ones)")
	modelFeatures := fs.String("model-features", "", "comma-separated features the model reads (default: every feature the table and the definitions share)")
	from := fs.String("from", "", "RFC 3339: leave out rows before it")
	until := fs.String("until", "", "RFC 3339: leave out rows at or after it (keep later data for scorer evaluate)")
	validShare := fs.Float64("valid-share", 0.2, "latest share of the rows, by event time, to validate on")
	splitAt := fs.String("split-at", "", "RFC 3339: validate on the rows from it on, instead of --valid-share")
	alertRate := fs.Float64("target-alert-rate", 0, "share of transactions to alert on (review or decline) [0.01 with neither target]")
	precision := fs.Float64("target-precision", 0, "share of declines that must be fraud [0.9 with neither target]")
	trees := fs.Int("trees", 300, "gbt: most boosting rounds (early stopping on the validation split ends sooner)")
	depth := fs.Int("depth", 6, "gbt: depth of each tree")
	rate := fs.Float64("learning-rate", 0.1, "gbt: learning rate")
	seed := fs.Uint64("seed", 1, "gbt: seed of the bin sample")
	report := fs.String("report", "", "also write the validation report: .html (with ROC and PR curves) or .json")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	switch {
	case *tablePath == "":
		return errors.New("--table is required")
	case *out == "":
		return errors.New("--out is required")
	case *kind != string(train.GBT) && *kind != string(train.Logistic):
		return fmt.Errorf("--kind %q: want gbt or logistic", *kind)
	}
	if err := checkReportPath(*report); err != nil {
		return err
	}
	defs, err := loadFeatures(*featuresFile)
	if err != nil {
		return err
	}
	// The rules alone: the model they will run with is the one trained
	// here, not the one serve has now.
	known := append(defs.Names(), model.TransactionVariables()...)
	var rules *model.Rules
	if *rulesFile != "" {
		rules, err = model.LoadRules(*rulesFile, known)
	} else {
		rules, err = model.DefaultRules(known)
	}
	if err != nil {
		return fmt.Errorf("rules: %w", err)
	}
	cfg := train.Config{
		Kind:       train.Kind(*kind),
		Version:    *version,
		ValidShare: *validShare,
		Targets:    train.Targets{AlertRate: *alertRate, Precision: *precision},
		Trees:      gbt.Params{NumTrees: *trees, MaxDepth: *depth, LearningRate: *rate, Seed: *seed},
		Ceiling:    rules.Ceiling(),
		Progress: func(format string, a ...any) {
			fmt.Fprintf(stderr, "train: "+format+"\n", a...)
		},
	}
	if cfg.Version == "" {
		cfg.Version = *kind + "-" + time.Now().UTC().Format("20060102-150405")
	}
	if cfg.SplitAt, err = optionalTime("--split-at", *splitAt); err != nil {
		return err
	}
	fromT, err := optionalTime("--from", *from)
	if err != nil {
		return err
	}
	untilT, err := optionalTime("--until", *until)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	table, err := train.ReadFile(*tablePath)
	if err != nil {
		return err
	}
	if !fromT.IsZero() || !untilT.IsZero() {
		table = table.Between(fromT, untilT)
	}
	fmt.Fprintf(stderr, "train: read %d rows of %d columns from %s in %s\n", table.Len(), len(table.Names), *tablePath, time.Since(start).Round(time.Millisecond))
	if cfg.Features, err = modelColumns(table.Names, defs, splitList(*modelFeatures)); err != nil {
		return err
	}
	o, err := train.Fit(ctx, table, cfg)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(*out, func(w io.Writer) error { _, err := w.Write(o.File); return err }); err != nil {
		return err
	}
	if *report != "" {
		if err := writeReport(*report, o.Validation); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "model %s (%s) written to %s in %s\n", cfg.Version, *kind, *out, o.Took.Round(time.Millisecond))
	fmt.Fprintf(stdout, "trained on %d rows (%s .. %s), validated on %d (%s .. %s)\n",
		o.TrainRows, o.TrainFrom.Format(time.DateOnly), o.TrainTo.Format(time.DateOnly),
		o.ValidRows, o.ValidFrom.Format(time.DateOnly), o.ValidTo.Format(time.DateOnly))
	fmt.Fprintf(stdout, "thresholds: review %.6g, decline %.6g", o.Thresholds.Review, o.Thresholds.Decline)
	if o.Capped {
		fmt.Fprintf(stdout, " (capped so that the rules' scores reach them: review %.6g, decline %.6g)", cfg.Ceiling.Review, cfg.Ceiling.Decline)
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "features by importance:")
	for i, im := range o.Importance {
		if i == 10 {
			fmt.Fprintf(stdout, "  ... and %d more\n", len(o.Importance)-10)
			break
		}
		fmt.Fprintf(stdout, "  %-32s %.4g\n", im.Feature, im.Value)
	}
	fmt.Fprintln(stdout)
	return o.Validation.WriteText(stdout)
}

// loadFeatures returns the definitions of path, or the built-in ones.
func loadFeatures(path string) (*features.Set, error) {
	if path == "" {
		return features.Default(), nil
	}
	return features.Load(path)
}

// modelColumns picks the columns a model reads: those asked for, each of
// which must be a feature and a column; or else every column that is a
// feature of defs.
func modelColumns(columns []string, defs *features.Set, asked []string) ([]string, error) {
	known := defs.Names()
	if len(asked) > 0 {
		var errs []error
		for _, f := range asked {
			if !slices.Contains(known, f) {
				errs = append(errs, fmt.Errorf("--model-features: %q is not a feature of the definitions, so the service could not serve it", f))
			} else if !slices.Contains(columns, f) {
				errs = append(errs, fmt.Errorf("--model-features: the table has no column %q", f))
			}
		}
		return asked, errors.Join(errs...)
	}
	var use []string
	for _, c := range columns {
		if slices.Contains(known, c) {
			use = append(use, c)
		}
	}
	if len(use) == 0 {
		return nil, fmt.Errorf("no column of the table is a feature of the definitions (columns %s)", strings.Join(columns, ", "))
	}
	return use, nil
}

// checkReportPath accepts "" or a .html or .json path.
func checkReportPath(p string) error {
	switch strings.ToLower(filepath.Ext(p)) {
	case "", ".html", ".json":
		if p != "" && filepath.Ext(p) == "" {
			return fmt.Errorf("report %s: want a .html or .json file", p)
		}
		return nil
	}
	return fmt.Errorf("report %s: want a .html or .json file", p)
}

// writeReport writes r as HTML or JSON by the extension of path.
func writeReport(path string, r interface {
	WriteHTML(io.Writer) error
	WriteJSON(io.Writer) error
}) error {
	if strings.EqualFold(filepath.Ext(path), ".html") {
		return writeFileAtomic(path, r.WriteHTML)
	}
	return writeFileAtomic(path, r.WriteJSON)
}

// writeFileAtomic writes a file through write to a temporary file beside
// path, and renames it into place once complete and synced, so that a
// failed run leaves no partial file.
func writeFileAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	err = write(f)
	if err == nil {
		err = f.Chmod(0o644) // as os.Create's 0666 under the usual umask
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
