// Package eval measures how well fraud scores separate fraud from
// legitimate transactions: ROC AUC, average precision, the curves, the
// threshold that alerts a given share of rows or reaches a given precision,
// the confusion matrix at the review and decline thresholds, and a score
// histogram by label. Evaluate gathers them in a Report, which writes
// itself as text, JSON or a self-contained HTML page.
//
// Every function takes scores and labels (true: fraud) of equal length; a
// higher score means more likely fraud. Definitions shared by all of them:
//
//   - A row alerts at threshold t when its score is >= t. Rows tied at the
//     threshold therefore all alert together.
//   - The curves step through the distinct scores from the highest down;
//     tied rows enter together, as one point.
//   - A ratio whose denominator is 0 (precision when nothing alerts, recall
//     with no positives) is 0, except ROCAUC and PRAUC which return NaN
//     when a class is absent.
//   - NaN scores rank below every other score (they never alert at a
//     finite threshold). Evaluate rejects them.
package eval

import (
	"cmp"
	"math"
	"slices"
)

// curve is the confusion matrix at each distinct score, from the highest
// down: at thr[k], the rows with score >= thr[k] are tp[k] positives and
// fp[k] negatives.
type curve struct {
	pos, neg int
	thr      []float64
	tp, fp   []int
}

func mustMatch(scores []float64, labels []bool) {
	if len(scores) != len(labels) {
		panic("eval: scores and labels differ in length")
	}
}

// newCurve sorts the scores of each class and merges them from the top, so
// that ties between classes fall in the same group.
func newCurve(scores []float64, labels []bool) *curve {
	mustMatch(scores, labels)
	var p, q []float64
	for i, s := range scores {
		if labels[i] {
			p = append(p, s)
		} else {
			q = append(q, s)
		}
	}
	slices.Sort(p) // ascending, NaN first
	slices.Sort(q)
	c := &curve{pos: len(p), neg: len(q)}
	i, j := len(p)-1, len(q)-1
	tp, fp := 0, 0
	for i >= 0 || j >= 0 {
		var s float64
		switch {
		case i < 0:
			s = q[j]
		case j < 0:
			s = p[i]
		default:
			s = max2(p[i], q[j])
		}
		for i >= 0 && cmp.Compare(p[i], s) == 0 {
			tp++
			i--
		}
		for j >= 0 && cmp.Compare(q[j], s) == 0 {
			fp++
			j--
		}
		c.thr = append(c.thr, s)
		c.tp = append(c.tp, tp)
		c.fp = append(c.fp, fp)
	}
	return c
}

// max2 is the larger of a and b by cmp.Compare (NaN lowest).
func max2(a, b float64) float64 {
	if cmp.Compare(a, b) >= 0 {
		return a
	}
	return b
}

// ROCAUC returns the area under the ROC curve: the probability that a
// random positive scores above a random negative, ties counting one half
// (the Mann-Whitney U statistic divided by positives x negatives). It is
// computed in integers, so ties are handled exactly. NaN when there are no
// positives or no negatives.
func ROCAUC(scores []float64, labels []bool) float64 {
	return newCurve(scores, labels).rocAUC()
}

func (c *curve) rocAUC() float64 {
	if c.pos == 0 || c.neg == 0 {
		return math.NaN()
	}
	// Each negative of group k is outranked by the positives of the groups
	// above (count 1 each) and tied with those of its own (count 1/2):
	// twice the U statistic is sum over k of n_k * (2*tpAbove + p_k).
	var twiceU int64
	tpAbove, fpAbove := 0, 0
	for k := range c.thr {
		pk, nk := c.tp[k]-tpAbove, c.fp[k]-fpAbove
		twiceU += int64(nk) * int64(2*tpAbove+pk)
		tpAbove, fpAbove = c.tp[k], c.fp[k]
	}
	return float64(twiceU) / (2 * float64(c.pos) * float64(c.neg))
}

// PRAUC returns the area under the precision-recall curve as average
// precision, the same quantity as scikit-learn's average_precision_score:
// the step-wise sum over the distinct scores, from the highest down, of
// (recall_k - recall_{k-1}) * precision_k, with recall_0 = 0. There is no
// interpolation between points (trapezoids would be optimistic). NaN when
// there are no positives.
func PRAUC(scores []float64, labels []bool) float64 {
	return newCurve(scores, labels).averagePrecision()
}

func (c *curve) averagePrecision() float64 {
	if c.pos == 0 {
		return math.NaN()
	}
	ap, prevTP := 0.0, 0
	for k := range c.thr {
		if d := c.tp[k] - prevTP; d > 0 {
			ap += float64(d) / float64(c.pos) * float64(c.tp[k]) / float64(c.tp[k]+c.fp[k])
		}
		prevTP = c.tp[k]
	}
	return ap
}

// ROCPoint is one point of the ROC curve: rows with score >= Threshold
// alert, and FPR and TPR are the shares of negatives and positives that do.
type ROCPoint struct {
	Threshold float64 `json:"threshold"`
	FPR       float64 `json:"fpr"`
	TPR       float64 `json:"tpr"`
}

// PRPoint is one point of the precision-recall curve at a threshold.
type PRPoint struct {
	Threshold float64 `json:"threshold"`
	Recall    float64 `json:"recall"`
	Precision float64 `json:"precision"`
}

// DefaultCurvePoints is how many points ROCCurve and PRCurve keep when asked
// for 0.
const DefaultCurvePoints = 300

// ROCCurve returns the ROC curve from (0, 0) (its threshold just above the
// highest score) through one point per distinct score, downsampled to at
// most maxPoints (0: DefaultCurvePoints) for plotting, keeping the first
// and last points and spacing the rest evenly along the curve's length.
func ROCCurve(scores []float64, labels []bool, maxPoints int) []ROCPoint {
	return newCurve(scores, labels).roc(maxPoints)
}

func (c *curve) roc(maxPoints int) []ROCPoint {
	if len(c.thr) == 0 {
		return nil
	}
	all := make([]ROCPoint, 0, len(c.thr)+1)
	all = append(all, ROCPoint{Threshold: math.Nextafter(c.thr[0], math.Inf(1))})
	for k, t := range c.thr {
		all = append(all, ROCPoint{Threshold: t, FPR: ratio(c.fp[k], c.neg), TPR: ratio(c.tp[k], c.pos)})
	}
	return pick(all, downsample(len(all), func(i int) (float64, float64) { return all[i].FPR, all[i].TPR }, maxPoints))
}

// PRCurve returns the precision-recall curve, one point per distinct score
// from the highest down, downsampled as ROCCurve's.
func PRCurve(scores []float64, labels []bool, maxPoints int) []PRPoint {
	return newCurve(scores, labels).pr(maxPoints)
}

func (c *curve) pr(maxPoints int) []PRPoint {
	all := make([]PRPoint, len(c.thr))
	for k, t := range c.thr {
		all[k] = PRPoint{Threshold: t, Recall: ratio(c.tp[k], c.pos), Precision: ratio(c.tp[k], c.tp[k]+c.fp[k])}
	}
	return pick(all, downsample(len(all), func(i int) (float64, float64) { return all[i].Recall, all[i].Precision }, maxPoints))
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func pick[T any](all []T, keep []int) []T {
	if len(keep) == len(all) {
		return all
	}
	out := make([]T, len(keep))
	for i, k := range keep {
		out[i] = all[k]
	}
	return out
}

// downsample returns the indexes of at most maxPoints of the n points of a
// polyline: the first, the last, and in between at most one point per
// equal stretch of the line's length, so that steep parts keep as much
// detail as flat ones. All n when n <= maxPoints.
func downsample(n int, xy func(int) (float64, float64), maxPoints int) []int {
	if maxPoints <= 0 {
		maxPoints = DefaultCurvePoints
	}
	maxPoints = max(maxPoints, 3)
	keep := make([]int, 0, min(n, maxPoints))
	if n <= maxPoints {
		for i := range n {
			keep = append(keep, i)
		}
		return keep
	}
	// Cumulative length along the line.
	cum := make([]float64, n)
	px, py := xy(0)
	for i := 1; i < n; i++ {
		x, y := xy(i)
		cum[i] = cum[i-1] + math.Hypot(x-px, y-py)
		px, py = x, y
	}
	total := cum[n-1]
	if total == 0 {
		return []int{0, n - 1}
	}
	// Buckets 0..maxPoints-2 give at most maxPoints-1 points; the last
	// point makes maxPoints.
	step := total / float64(maxPoints-2)
	keep = append(keep, 0)
	lastBucket := 0.0
	for i := 1; i < n-1; i++ {
		if b := math.Floor(cum[i] / step); b > lastBucket {
			keep = append(keep, i)
			lastBucket = b
		}
	}
	return append(keep, n-1)
}
