package eval

import (
	"math"
	"slices"
	"sort"
)

// OperatingPoint is the confusion matrix when rows with score >= Threshold
// alert, with the ratios callers pick thresholds by.
type OperatingPoint struct {
	Threshold float64 `json:"threshold"`
	TP        int     `json:"tp"`
	FP        int     `json:"fp"`
	FN        int     `json:"fn"`
	TN        int     `json:"tn"`
	// Precision is TP/(TP+FP), 0 when nothing alerts.
	Precision float64 `json:"precision"`
	// Recall is TP/(TP+FN), 0 when there are no positives.
	Recall float64 `json:"recall"`
	// AlertRate is (TP+FP)/rows, 0 when there are no rows.
	AlertRate float64 `json:"alert_rate"`
}

// Alerts is how many rows alert, TP+FP.
func (o OperatingPoint) Alerts() int { return o.TP + o.FP }

func newOperatingPoint(t float64, tp, fp, pos, neg int) OperatingPoint {
	return OperatingPoint{
		Threshold: t,
		TP:        tp, FP: fp, FN: pos - tp, TN: neg - fp,
		Precision: ratio(tp, tp+fp),
		Recall:    ratio(tp, pos),
		AlertRate: ratio(tp+fp, pos+neg),
	}
}

// AtThreshold returns the operating point where rows with score >=
// threshold alert.
func AtThreshold(scores []float64, labels []bool, threshold float64) OperatingPoint {
	mustMatch(scores, labels)
	var tp, fp, pos int
	for i, s := range scores {
		if labels[i] {
			pos++
		}
		if s >= threshold {
			if labels[i] {
				tp++
			} else {
				fp++
			}
		}
	}
	return newOperatingPoint(threshold, tp, fp, pos, len(scores)-pos)
}

// at is AtThreshold on the curve: the operating point at the lowest listed
// threshold >= t.
func (c *curve) at(t float64) OperatingPoint {
	// thr is descending; count the groups with thr >= t.
	k, _ := slices.BinarySearchFunc(c.thr, t, func(s, t float64) int {
		if s >= t {
			return -1
		}
		return 1
	})
	tp, fp := 0, 0
	if k > 0 {
		tp, fp = c.tp[k-1], c.fp[k-1]
	}
	return newOperatingPoint(t, tp, fp, c.pos, c.neg)
}

// alertCount is how many rows rate asks to alert out of n: ceil(rate*n),
// at least 1 (a tolerance keeps 0.07*100 at 7).
func alertCount(rate float64, n int) int {
	k := int(math.Ceil(rate*float64(n) - 1e-9))
	return min(max(k, 1), n)
}

// ThresholdForAlertRate returns the threshold that alerts the share rate of
// the rows: the score of the ceil(rate*n)-th highest row (at least the
// first). All rows with a score >= that threshold alert, so ties at the
// threshold can make the actual alert rate higher than rate; it is never
// lower. rate must be in (0, 1] (1 gives the lowest score). It returns NaN
// for no scores and panics for a rate out of range.
func ThresholdForAlertRate(scores []float64, rate float64) float64 {
	checkRate(rate)
	if len(scores) == 0 {
		return math.NaN()
	}
	s := slices.Clone(scores)
	slices.Sort(s) // ascending, NaN first
	return s[len(s)-alertCount(rate, len(s))]
}

func checkRate(rate float64) {
	if !(rate > 0 && rate <= 1) {
		panic("eval: alert rate must be in (0, 1]")
	}
}

// AtAlertRate returns the operating point at ThresholdForAlertRate(scores,
// rate). Its AlertRate is the actual share of rows that alert.
func AtAlertRate(scores []float64, labels []bool, rate float64) OperatingPoint {
	checkRate(rate)
	return newCurve(scores, labels).atAlertRate(rate)
}

func (c *curve) atAlertRate(rate float64) OperatingPoint {
	n := c.pos + c.neg
	if n == 0 {
		return OperatingPoint{Threshold: math.NaN()}
	}
	need := alertCount(rate, n)
	// The first group whose cumulative count reaches need.
	k := sort.Search(len(c.thr), func(k int) bool { return c.tp[k]+c.fp[k] >= need })
	return newOperatingPoint(c.thr[k], c.tp[k], c.fp[k], c.pos, c.neg)
}

// ThresholdForPrecision returns the lowest threshold whose precision is at
// least the target, scanning every distinct score from the highest down
// (precision is not monotone in the threshold, so this is the threshold
// with the most recall among those reaching the target), and the recall
// there. ok is false when no threshold reaches the target.
func ThresholdForPrecision(scores []float64, labels []bool, precision float64) (threshold, recall float64, ok bool) {
	p, ok := newCurve(scores, labels).forPrecision(precision)
	return p.Threshold, p.Recall, ok
}

// AtPrecision is ThresholdForPrecision with the whole operating point.
func AtPrecision(scores []float64, labels []bool, precision float64) (OperatingPoint, bool) {
	return newCurve(scores, labels).forPrecision(precision)
}

func (c *curve) forPrecision(target float64) (OperatingPoint, bool) {
	for k := len(c.thr) - 1; k >= 0; k-- {
		if c.tp[k] > 0 && float64(c.tp[k])/float64(c.tp[k]+c.fp[k]) >= target {
			return newOperatingPoint(c.thr[k], c.tp[k], c.fp[k], c.pos, c.neg), true
		}
	}
	return OperatingPoint{}, false
}
