package train

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/fraudscore/scorer/eval"
	"github.com/fraudscore/scorer/gbt"
	"github.com/fraudscore/scorer/model"
)

// Kind is the kind of model Fit trains.
type Kind string

// The kinds of model.
const (
	GBT      Kind = "gbt"      // gradient-boosted trees (package gbt)
	Logistic Kind = "logistic" // logistic regression (FitLogistic)
)

// Config says what Fit trains. The zero value of each field is its default.
type Config struct {
	Kind    Kind   // [GBT]
	Version string // the model's version (required)
	// Features are the table's columns the model reads (nil: all of them).
	Features []string
	// ValidShare is the latest share of the table, by event time, held out
	// to validate on [0.2]; SplitAt, when set, splits there instead.
	ValidShare float64
	SplitAt    time.Time
	// Targets pick the thresholds on the validation split.
	Targets Targets
	// Trees are the parameters of the trees (Kind GBT); Fit sets early
	// stopping on the validation split unless they say otherwise.
	Trees gbt.Params
	// Linear are the options of the logistic regression (Kind Logistic).
	Linear LogisticOptions
	// Ceiling, when set, lowers thresholds picked above it: the rules the
	// model will run with need their scores to reach the thresholds of
	// their decisions (model.Rules.Ceiling). Outcome.Capped says when.
	Ceiling model.Thresholds
	// Progress, when set, is told how training goes.
	Progress func(format string, args ...any)
}

// Targets are the business targets thresholds are picked for, on the
// validation split:
//   - AlertRate: the share of transactions the model sends to review or
//     declines; it sets the review threshold, and the decline threshold at
//     a tenth of the rate unless Precision is set.
//   - Precision: the share of declines that must be fraud; it sets the
//     decline threshold (the lowest reaching it) and, unless AlertRate is
//     set, the review threshold at the lowest reaching half of it.
//
// With neither, AlertRate is DefaultAlertRate and Precision
// DefaultPrecision. When no threshold reaches the precision asked, the
// model declines nothing on its own (decline 1); the rules still can.
// Config.Ceiling may then lower it to the lowest decline rule's score, so
// that the model declines above that score although the precision was
// not reached; Outcome.Capped says so.
type Targets struct {
	AlertRate float64
	Precision float64
}

// The default targets: alert on 1% of transactions, decline where 90% of
// declines are fraud.
const (
	DefaultAlertRate = 0.01
	DefaultPrecision = 0.9
)

// Outcome is a trained model with how it was made and how it scored on the
// validation split.
type Outcome struct {
	File       []byte // the model file, for model.LoadAny
	Model      model.Model
	Thresholds model.Thresholds
	// Capped says that Config.Ceiling lowered the thresholds picked.
	Capped bool
	// Validation is the evaluation on the validation split.
	Validation *eval.Report
	// Importance ranks the features, most useful first: total split gain
	// for trees, |weight| for the regression.
	Importance []Importance
	TrainRows  int
	ValidRows  int
	TrainFrom  time.Time // event-time span of the training split
	TrainTo    time.Time
	ValidFrom  time.Time // and of the validation split
	ValidTo    time.Time
	Took       time.Duration
}

// Importance is how much a model relies on a feature.
type Importance struct {
	Feature string  `json:"feature"`
	Value   float64 `json:"value"`
}

// Fit splits t by time, trains the model of cfg.Kind on the earlier part,
// picks its thresholds on the later part for cfg.Targets, and returns the
// model file with its training metadata and validation evaluation.
func Fit(ctx context.Context, t *Table, cfg Config) (*Outcome, error) {
	start := time.Now()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if t.Labels == nil {
		return nil, errors.New("train: the table has no label column")
	}
	if cfg.Version == "" {
		return nil, errors.New("train: a model version is required")
	}
	if cfg.Kind == "" {
		cfg.Kind = GBT
	}
	if cfg.Kind != GBT && cfg.Kind != Logistic {
		return nil, fmt.Errorf("train: kind %q is not gbt or logistic", cfg.Kind)
	}
	if cfg.Progress == nil {
		cfg.Progress = func(string, ...any) {}
	}
	features := cfg.Features
	if features == nil {
		features = t.Names
	}
	for _, f := range features {
		if _, ok := t.Column(f); !ok {
			return nil, fmt.Errorf("train: the table has no column %q (it has %v)", f, t.Names)
		}
	}
	var tr, va *Table
	if !cfg.SplitAt.IsZero() {
		tr, va = SplitAt(t, cfg.SplitAt)
	} else {
		share := cfg.ValidShare
		if share == 0 {
			share = 0.2
		}
		if !(share > 0 && share < 1) {
			return nil, fmt.Errorf("train: validation share %v is not in (0, 1)", share)
		}
		tr, va = SplitByTime(t, share)
	}
	if err := bothClasses("training", tr); err != nil {
		return nil, err
	}
	if err := bothClasses("validation", va); err != nil {
		return nil, err
	}
	out := &Outcome{TrainRows: tr.Len(), ValidRows: va.Len()}
	out.TrainFrom, out.TrainTo = span(tr)
	out.ValidFrom, out.ValidTo = span(va)
	cfg.Progress("training %s on %d rows (%s .. %s), validating on %d (%s .. %s)", cfg.Kind,
		tr.Len(), day(out.TrainFrom), day(out.TrainTo), va.Len(), day(out.ValidFrom), day(out.ValidTo))

	var (
		scores   []float64
		finish   func(model.Thresholds, map[string]any) ([]byte, error)
		training = map[string]any{
			"kind": string(cfg.Kind), "train_rows": tr.Len(), "valid_rows": va.Len(),
			"train_from": out.TrainFrom, "train_to": out.TrainTo, "valid_from": out.ValidFrom, "valid_to": out.ValidTo,
			"trained_at": time.Now().UTC().Truncate(time.Second),
		}
		err error
	)
	switch cfg.Kind {
	case GBT:
		scores, finish, err = fitTrees(ctx, tr, va, features, &cfg, out, training)
	case Logistic:
		scores, finish, err = fitLinear(tr, va, features, &cfg, out, training)
	}
	if err != nil {
		return nil, err
	}
	th, err := PickThresholds(scores, va.Labels, cfg.Targets)
	if err != nil {
		return nil, err
	}
	th, out.Capped = capThresholds(th, cfg.Ceiling)
	out.Thresholds = th
	rep, err := eval.Evaluate(scores, va.Labels, eval.Options{
		Title:      cfg.Version + " on the validation split",
		Thresholds: []eval.NamedThreshold{{Name: "review", Threshold: th.Review}, {Name: "decline", Threshold: th.Decline}},
	})
	if err != nil {
		return nil, err
	}
	out.Validation = rep
	training["seconds"] = math.Round(time.Since(start).Seconds()*10) / 10
	training["importance"] = out.Importance
	evaluation := map[string]any{
		"split": "validation", "rows": rep.Rows, "positives": rep.Positives,
		"roc_auc": rep.ROCAUC, "pr_auc": rep.AveragePrecision, "alert_rates": rep.AlertRates, "thresholds": rep.Thresholds,
	}
	if out.File, err = finish(th, map[string]any{"training": training, "evaluation": evaluation}); err != nil {
		return nil, err
	}
	if out.Model, err = model.ParseAny(out.File); err != nil {
		return nil, fmt.Errorf("train: the model written does not load: %w", err)
	}
	out.Took = time.Since(start)
	return out, nil
}

// fitTrees trains gradient-boosted trees with early stopping on va.
func fitTrees(ctx context.Context, tr, va *Table, features []string, cfg *Config, out *Outcome, training map[string]any) ([]float64, func(model.Thresholds, map[string]any) ([]byte, error), error) {
	p := cfg.Trees
	if p.EarlyStoppingRounds == 0 {
		p.EarlyStoppingRounds = 30
	}
	if p.Metric == "" {
		// Fraud is ranked, not calibrated: stop on what ranking needs.
		p.Metric = "auc"
	}
	if p.Progress == nil {
		p.Progress = func(r gbt.RoundInfo) {
			if r.Round%25 == 0 {
				cfg.Progress("round %d: train logloss %.5f, validation %s %.5f (best round %d)", r.Round, r.TrainLoss, p.Metric, r.Valid, r.BestRound)
			}
		}
	}
	m, err := gbt.Train(ctx, dataset(tr, features), dataset(va, features), p)
	if err != nil {
		return nil, nil, err
	}
	for _, imp := range m.Importance() {
		out.Importance = append(out.Importance, Importance{Feature: imp.Feature, Value: imp.Gain})
	}
	training["trees"] = len(m.Trees)
	training["params"] = map[string]any{"max_depth": cmp.Or(p.MaxDepth, 6), "learning_rate": cmp.Or(p.LearningRate, 0.1),
		"early_stopping_rounds": p.EarlyStoppingRounds, "metric": p.Metric}
	scores := make([]float64, va.Len())
	x := make([]float64, len(features))
	cols := columns(va, features)
	for i := range scores {
		for j, c := range cols {
			x[j] = c[i]
		}
		scores[i] = m.Predict(x)
	}
	finish := func(th model.Thresholds, meta map[string]any) ([]byte, error) {
		reasons := make(map[string]model.Reason, len(features))
		for _, f := range features {
			reasons[f] = ReasonFor(f)
		}
		maxReasons, minContribution := 3, 0.3
		return json.MarshalIndent(model.TreesFile{
			Kind: model.KindGBT, Version: cfg.Version, Features: features, Thresholds: &th,
			Reasons: reasons, MaxReasons: &maxReasons, ReasonMinContribution: &minContribution,
			Model: m, Training: meta["training"].(map[string]any), Evaluation: meta["evaluation"].(map[string]any),
		}, "", " ")
	}
	return scores, finish, nil
}

// fitLinear fits the logistic regression.
func fitLinear(tr, va *Table, features []string, cfg *Config, out *Outcome, training map[string]any) ([]float64, func(model.Thresholds, map[string]any) ([]byte, error), error) {
	opts := cfg.Linear
	opts.Version = cfg.Version
	if opts.Codes == nil && opts.Messages == nil {
		opts.Codes, opts.Messages = map[string]string{}, map[string]string{}
		for _, f := range features {
			r := ReasonFor(f)
			opts.Codes[f], opts.Messages[f] = r.Code, r.Message
		}
	}
	m, err := FitLogistic(tr, features, opts)
	if err != nil {
		return nil, nil, err
	}
	for _, f := range m.Features {
		out.Importance = append(out.Importance, Importance{Feature: f.Name, Value: math.Abs(f.Weight)})
	}
	slices.SortStableFunc(out.Importance, func(a, b Importance) int { return -cmpFloat(a.Value, b.Value) })
	training["iterations"] = m.Fit.Iterations
	training["loss"] = m.Fit.Loss
	scores, err := m.Score(va)
	if err != nil {
		return nil, nil, err
	}
	finish := func(th model.Thresholds, meta map[string]any) ([]byte, error) {
		m.Thresholds = th
		data, err := m.JSON()
		if err != nil {
			return nil, err
		}
		// The logistic format is strict; the training record goes beside
		// the weights under keys its parser knows to skip.
		return withMeta(data, meta)
	}
	return scores, finish, nil
}

// PickThresholds picks the review and decline thresholds on scores and
// labels for the targets (see Targets).
func PickThresholds(scores []float64, labels []bool, tg Targets) (model.Thresholds, error) {
	if tg.AlertRate == 0 && tg.Precision == 0 {
		tg = Targets{AlertRate: DefaultAlertRate, Precision: DefaultPrecision}
	}
	if tg.AlertRate < 0 || tg.AlertRate > 1 {
		return model.Thresholds{}, fmt.Errorf("train: target alert rate %v is not in (0, 1]", tg.AlertRate)
	}
	if tg.Precision < 0 || tg.Precision > 1 {
		return model.Thresholds{}, fmt.Errorf("train: target precision %v is not in (0, 1]", tg.Precision)
	}
	var th model.Thresholds
	if tg.Precision > 0 {
		th.Decline = 1
		if t, _, ok := eval.ThresholdForPrecision(scores, labels, tg.Precision); ok {
			th.Decline = t
		}
	} else {
		th.Decline = eval.ThresholdForAlertRate(scores, tg.AlertRate/10)
	}
	if tg.AlertRate > 0 {
		th.Review = eval.ThresholdForAlertRate(scores, tg.AlertRate)
	} else {
		th.Review = th.Decline
		if t, _, ok := eval.ThresholdForPrecision(scores, labels, tg.Precision/2); ok {
			th.Review = t
		}
	}
	// A score of 0 would alert on everything: keep thresholds above it.
	th.Review = max(th.Review, math.SmallestNonzeroFloat64)
	th.Decline = max(th.Decline, th.Review)
	return th, nil
}

// capThresholds lowers th to c where c is set and th above it.
func capThresholds(th, c model.Thresholds) (model.Thresholds, bool) {
	capped := false
	if c.Decline > 0 && th.Decline > c.Decline {
		th.Decline, capped = c.Decline, true
	}
	if c.Review > 0 && th.Review > c.Review {
		th.Review, capped = c.Review, true
	}
	th.Review = min(th.Review, th.Decline)
	return th, capped
}

// bothClasses says when a split lacks fraud or legitimate rows.
func bothClasses(name string, t *Table) error {
	pos := 0
	for _, y := range t.Labels {
		if y {
			pos++
		}
	}
	if pos == 0 || pos == t.Len() {
		return fmt.Errorf("train: the %s split has %d rows, %d of them fraud: it needs both classes (choose another split)", name, t.Len(), pos)
	}
	return nil
}

func span(t *Table) (from, to time.Time) {
	if t.Len() == 0 {
		return
	}
	lo, hi := t.EventTime[0], t.EventTime[0]
	for _, v := range t.EventTime {
		lo, hi = min(lo, v), max(hi, v)
	}
	return time.Unix(0, lo).UTC(), time.Unix(0, hi).UTC()
}

func day(t time.Time) string { return t.Format(time.DateOnly) }

func columns(t *Table, features []string) [][]float64 {
	cols := make([][]float64, len(features))
	for j, f := range features {
		cols[j], _ = t.Column(f)
	}
	return cols
}

func dataset(t *Table, features []string) *gbt.Dataset {
	labels := make([]float64, t.Len())
	for i, y := range t.Labels {
		if y {
			labels[i] = 1
		}
	}
	return &gbt.Dataset{Features: features, Cols: columns(t, features), Labels: labels}
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// withMeta adds meta's keys to the JSON object data.
func withMeta(data []byte, meta map[string]any) ([]byte, error) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	for k, v := range meta {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		doc[k] = b
	}
	return json.MarshalIndent(doc, "", " ")
}
