package eval

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/fraudscore/scorer/fraud"
)

// DefaultAlertRates are the alert rates a Report covers when Options give
// none: 0.1%, 0.5% and 1% of rows.
var DefaultAlertRates = []float64{0.001, 0.005, 0.01}

// Options say what a Report covers beyond the metrics every report has.
type Options struct {
	// Title names what was evaluated, e.g. the model version and split.
	Title string
	// AlertRates, each in (0, 1] (nil: DefaultAlertRates).
	AlertRates []float64
	// Thresholds to report the confusion matrix at, e.g. review and decline.
	Thresholds []NamedThreshold
	// PrecisionTargets, each in (0, 1]: the report gives the lowest
	// threshold reaching each (see ThresholdForPrecision).
	PrecisionTargets []float64
	// ReasonCounts are carried into the report as given: how often each
	// reason code was returned.
	ReasonCounts map[string]int
	// CurvePoints bounds the points kept of each curve (0:
	// DefaultCurvePoints).
	CurvePoints int
	// HistogramBins (0: DefaultHistogramBins).
	HistogramBins int
}

// NamedThreshold is a score threshold with its meaning, e.g. "review".
type NamedThreshold struct {
	Name      string  `json:"name"`
	Threshold float64 `json:"threshold"`
}

// Report is an evaluation of scores against labels.
type Report struct {
	Title        string  `json:"title,omitempty"`
	Rows         int     `json:"rows"`
	Positives    int     `json:"positives"`
	PositiveRate float64 `json:"positive_rate"`
	ROCAUC       float64 `json:"roc_auc"`
	// AveragePrecision is PRAUC: the step-wise area under the PR curve, as
	// scikit-learn's average_precision_score.
	AveragePrecision float64          `json:"average_precision"`
	AlertRates       []AlertRatePoint `json:"alert_rates"`
	Thresholds       []ThresholdPoint `json:"thresholds,omitempty"`
	PrecisionTargets []PrecisionPoint `json:"precision_targets,omitempty"`
	Histogram        Histogram        `json:"histogram"`
	ReasonCounts     map[string]int   `json:"reason_counts,omitempty"`
	ROC              []ROCPoint       `json:"roc"`
	PR               []PRPoint        `json:"pr"`
}

// AlertRatePoint is the operating point at the threshold that alerts Rate
// of the rows; OperatingPoint.AlertRate is the share that actually does
// (higher when rows tie at the threshold).
type AlertRatePoint struct {
	Rate float64 `json:"rate"`
	OperatingPoint
}

// ThresholdPoint is the operating point at a named threshold.
type ThresholdPoint struct {
	Name string `json:"name"`
	OperatingPoint
}

// PrecisionPoint is the operating point at the lowest threshold whose
// precision reaches Target; Found is false (and the rest zero) when none
// does.
type PrecisionPoint struct {
	Target float64 `json:"target"`
	Found  bool    `json:"found"`
	OperatingPoint
}

// Evaluate computes a Report of scores against labels (true: fraud). It
// needs at least one positive and one negative, scores that are finite,
// and options in range.
func Evaluate(scores []float64, labels []bool, opts Options) (*Report, error) {
	if len(scores) != len(labels) {
		return nil, fmt.Errorf("eval: %d scores but %d labels", len(scores), len(labels))
	}
	for i, s := range scores {
		if math.IsNaN(s) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("eval: score of row %d is not finite", i)
		}
	}
	rates := opts.AlertRates
	if rates == nil {
		rates = DefaultAlertRates
	}
	var errs []error
	for _, r := range rates {
		if !(r > 0 && r <= 1) {
			errs = append(errs, fmt.Errorf("eval: alert rate %v is not in (0, 1]", r))
		}
	}
	for _, p := range opts.PrecisionTargets {
		if !(p > 0 && p <= 1) {
			errs = append(errs, fmt.Errorf("eval: precision target %v is not in (0, 1]", p))
		}
	}
	for _, t := range opts.Thresholds {
		if math.IsNaN(t.Threshold) || math.IsInf(t.Threshold, 0) {
			errs = append(errs, fmt.Errorf("eval: threshold %s is not finite", safe(t.Name)))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	c := newCurve(scores, labels)
	if c.pos == 0 || c.neg == 0 {
		return nil, fmt.Errorf("eval: need both classes, have %d positives and %d negatives", c.pos, c.neg)
	}
	r := &Report{
		Title:            opts.Title,
		Rows:             len(scores),
		Positives:        c.pos,
		PositiveRate:     ratio(c.pos, len(scores)),
		ROCAUC:           c.rocAUC(),
		AveragePrecision: c.averagePrecision(),
		Histogram:        ScoreHistogram(scores, labels, opts.HistogramBins),
		ROC:              c.roc(opts.CurvePoints),
		PR:               c.pr(opts.CurvePoints),
	}
	for _, rate := range rates {
		r.AlertRates = append(r.AlertRates, AlertRatePoint{Rate: rate, OperatingPoint: c.atAlertRate(rate)})
	}
	for _, t := range opts.Thresholds {
		r.Thresholds = append(r.Thresholds, ThresholdPoint{Name: t.Name, OperatingPoint: c.at(t.Threshold)})
	}
	for _, target := range opts.PrecisionTargets {
		p, ok := c.forPrecision(target)
		r.PrecisionTargets = append(r.PrecisionTargets, PrecisionPoint{Target: target, Found: ok, OperatingPoint: p})
	}
	if len(opts.ReasonCounts) > 0 {
		r.ReasonCounts = make(map[string]int, len(opts.ReasonCounts))
		for code, n := range opts.ReasonCounts {
			r.ReasonCounts[code] = n
		}
	}
	return r, nil
}

// safe masks any card number in text that came from the caller (titles,
// names, reason codes), so that none reaches a report.
func safe(s string) string { return fraud.MaskString(s) }

// reasonCount is one reason code's count, for output in order.
type reasonCount struct {
	Code  string
	Count int
}

// reasons returns the reason counts by count, largest first, then code.
func (r *Report) reasons() []reasonCount {
	out := make([]reasonCount, 0, len(r.ReasonCounts))
	for code, n := range r.ReasonCounts {
		out = append(out, reasonCount{safe(code), n})
	}
	slices.SortFunc(out, func(a, b reasonCount) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return strings.Compare(a.Code, b.Code)
	})
	return out
}

// WriteJSON writes the report as indented JSON, with card numbers masked
// in the caller's text.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	out.Title = safe(r.Title)
	out.Thresholds = slices.Clone(r.Thresholds)
	for i := range out.Thresholds {
		out.Thresholds[i].Name = safe(out.Thresholds[i].Name)
	}
	if r.ReasonCounts != nil {
		out.ReasonCounts = make(map[string]int, len(r.ReasonCounts))
		for _, rc := range r.reasons() {
			out.ReasonCounts[rc.Code] += rc.Count
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// WriteText writes a readable summary: the counts, the AUCs, the tables of
// operating points, the score histogram and the reason codes (not the
// curves, which WriteJSON and WriteHTML carry).
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	title := "Evaluation"
	if r.Title != "" {
		title += ": " + safe(r.Title)
	}
	fmt.Fprintf(ew, "%s\n\n", title)
	fmt.Fprintf(ew, "rows               %d\n", r.Rows)
	fmt.Fprintf(ew, "positives          %d (%s)\n", r.Positives, pct(r.PositiveRate))
	fmt.Fprintf(ew, "ROC AUC            %.4f\n", r.ROCAUC)
	fmt.Fprintf(ew, "average precision  %.4f (PR AUC, step-wise as scikit-learn's average_precision_score)\n", r.AveragePrecision)
	fmt.Fprintf(ew, "\nRows with score >= threshold alert.\n")

	fmt.Fprintf(ew, "\nAt alert rates\n")
	tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "rate\tthreshold\talerts\tactual rate\tTP\tFP\tprecision\trecall\t\n")
	for _, a := range r.AlertRates {
		fmt.Fprintf(tw, "%s\t%.6g\t%d\t%s\t%d\t%d\t%.4f\t%.4f\t\n",
			pct(a.Rate), a.Threshold, a.Alerts(), pct(a.AlertRate), a.TP, a.FP, a.Precision, a.Recall)
	}
	tw.Flush()

	if len(r.Thresholds) > 0 {
		fmt.Fprintf(ew, "\nAt thresholds\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "name\tthreshold\tTP\tFP\tFN\tTN\tprecision\trecall\talert rate\t\n")
		for _, t := range r.Thresholds {
			fmt.Fprintf(tw, "%s\t%.6g\t%d\t%d\t%d\t%d\t%.4f\t%.4f\t%s\t\n",
				safe(t.Name), t.Threshold, t.TP, t.FP, t.FN, t.TN, t.Precision, t.Recall, pct(t.AlertRate))
		}
		tw.Flush()
	}

	if len(r.PrecisionTargets) > 0 {
		fmt.Fprintf(ew, "\nLowest threshold reaching a precision\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintf(tw, "target\tthreshold\tprecision\trecall\talert rate\t\n")
		for _, p := range r.PrecisionTargets {
			if !p.Found {
				fmt.Fprintf(tw, "%.4f\tnone\t\t\t\t\n", p.Target)
				continue
			}
			fmt.Fprintf(tw, "%.4f\t%.6g\t%.4f\t%.4f\t%s\t\n", p.Target, p.Threshold, p.Precision, p.Recall, pct(p.AlertRate))
		}
		tw.Flush()
	}

	fmt.Fprintf(ew, "\nScore distribution\n")
	tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "score\tpositives\tnegatives\t\n")
	h := r.Histogram
	for i := range h.Positives {
		fmt.Fprintf(tw, "%s\t%d\t%d\t\n", binLabel(h, i), h.Positives[i], h.Negatives[i])
	}
	tw.Flush()

	if rs := r.reasons(); len(rs) > 0 {
		fmt.Fprintf(ew, "\nReason codes\n")
		tw = tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		for _, rc := range rs {
			fmt.Fprintf(tw, "%s\t%d\n", rc.Code, rc.Count)
		}
		tw.Flush()
	}
	return ew.err
}

func binLabel(h Histogram, i int) string {
	closing := ")"
	if i == len(h.Positives)-1 {
		closing = "]"
	}
	return fmt.Sprintf("[%.2f, %.2f%s", h.Edges[i], h.Edges[i+1], closing)
}

// pct formats a share as a percentage with enough digits for small rates.
func pct(x float64) string {
	switch p := 100 * x; {
	case p == 0:
		return "0%"
	case p < 0.1:
		return fmt.Sprintf("%.4f%%", p)
	default:
		return fmt.Sprintf("%.2f%%", p)
	}
}

// errWriter keeps the first write error and drops writes after it.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
