package gbt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"time"
)

// Params configure Train. Zero values take the defaults in brackets, which
// are XGBoost's where XGBoost has the same parameter.
type Params struct {
	NumTrees     int     // number of boosting rounds [300]
	MaxDepth     int     // depth of the trees; the root is depth 0 [6]
	LearningRate float64 // shrinkage of each tree's output, "eta" [0.1]
	// Lambda is the L2 penalty on leaf values [1]; set NoLambda for 0.
	Lambda   float64
	NoLambda bool
	// MinChildWeight is the least hessian sum a child may have [1]; set
	// NoMinChildWeight for 0.
	MinChildWeight   float64
	NoMinChildWeight bool
	MinSamplesLeaf   int     // least number of training rows in a leaf [1]
	MinSplitGain     float64 // least Gain for a split, XGBoost's "gamma" [0]
	Bins             int     // quantile bins per feature, at most MaxBins [255]
	// BinSampleRows is how many rows (drawn at random) the bin cuts are
	// computed from, for speed on large tables [200000]; negative: all.
	BinSampleRows int
	Subsample     float64 // fraction of rows drawn for each tree [1]
	ColSample     float64 // fraction of features drawn for each tree [1]
	// ScalePosWeight multiplies the weight of positive rows [1]; the usual
	// choice for imbalanced data is negatives/positives.
	ScalePosWeight float64
	// BaseScore is the probability the boosting starts from. 0 means the
	// (weighted) positive rate of the training labels, which saves the
	// first trees the work of learning the prior; XGBoost 1.x uses 0.5.
	BaseScore float64
	Seed      uint64 // seeds row and column subsampling and the bin sample
	Threads   int    // goroutines for histograms and gradients [GOMAXPROCS]

	// EarlyStoppingRounds > 0 stops training when the validation metric
	// has not improved for that many rounds, and keeps the trees up to
	// the best round. It needs a validation set.
	EarlyStoppingRounds int
	// Metric is the validation metric: "logloss" (lower is better,
	// default) or "auc" (higher is better).
	Metric string
	// Progress, when not nil, is called after each round.
	Progress func(RoundInfo)
}

// RoundInfo tells Params.Progress how training goes.
type RoundInfo struct {
	Round        int     // 0-based index of the tree just added
	TrainLoss    float64 // weighted logloss on the training rows
	Valid        float64 // validation metric, NaN without a validation set
	BestRound    int     // round of the best validation metric so far
	Leaves       int     // leaves of the tree just added
	Elapsed      time.Duration
	StoppedEarly bool // this is the last round: no improvement for EarlyStoppingRounds
}

func (p Params) withDefaults() (Params, error) {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	deff := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	def(&p.NumTrees, 300)
	def(&p.MaxDepth, 6)
	def(&p.MinSamplesLeaf, 1)
	def(&p.Bins, MaxBins)
	def(&p.BinSampleRows, 200_000)
	def(&p.Threads, runtime.GOMAXPROCS(0))
	deff(&p.LearningRate, 0.1)
	deff(&p.Subsample, 1)
	deff(&p.ColSample, 1)
	deff(&p.ScalePosWeight, 1)
	if !p.NoLambda {
		deff(&p.Lambda, 1)
	}
	if !p.NoMinChildWeight {
		deff(&p.MinChildWeight, 1)
	}
	if p.Metric == "" {
		p.Metric = "logloss"
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.NumTrees < 0 || p.MaxDepth < 0 || p.MaxDepth > 30 {
		bad("NumTrees must be >= 0 and MaxDepth in [0,30]")
	}
	if !(p.LearningRate > 0) || math.IsInf(p.LearningRate, 0) {
		bad("LearningRate must be > 0")
	}
	if !(p.Lambda >= 0) || !(p.MinChildWeight >= 0) || !(p.MinSplitGain >= 0) {
		bad("Lambda, MinChildWeight and MinSplitGain must be >= 0")
	}
	if p.MinSamplesLeaf < 1 {
		bad("MinSamplesLeaf must be >= 1")
	}
	if p.Bins < 2 || p.Bins > MaxBins {
		bad("Bins must be in [2,%d]", MaxBins)
	}
	if !(p.Subsample > 0 && p.Subsample <= 1) || !(p.ColSample > 0 && p.ColSample <= 1) {
		bad("Subsample and ColSample must be in (0,1]")
	}
	if !(p.ScalePosWeight > 0) || math.IsInf(p.ScalePosWeight, 0) {
		bad("ScalePosWeight must be > 0")
	}
	if !(p.BaseScore >= 0 && p.BaseScore < 1) {
		bad("BaseScore must be in (0,1), or 0 for the label mean")
	}
	if p.Threads < 1 || p.EarlyStoppingRounds < 0 {
		bad("Threads must be >= 1 and EarlyStoppingRounds >= 0")
	}
	if p.Metric != "logloss" && p.Metric != "auc" {
		bad("Metric must be logloss or auc, not %q", p.Metric)
	}
	return p, errors.Join(errs...)
}

// Train fits a model to train. valid, which may be nil, is scored after
// each round for Progress and early stopping; it must have the same
// features in the same order. Train returns ctx.Err() if ctx is done
// between two rounds.
func Train(ctx context.Context, train, valid *Dataset, p Params) (*Model, error) {
	p, err := p.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("gbt: %w", err)
	}
	if err := train.Validate(); err != nil {
		return nil, err
	}
	if valid != nil {
		if err := valid.Validate(); err != nil {
			return nil, fmt.Errorf("validation set: %w", err)
		}
		if !equalStrings(valid.Features, train.Features) {
			return nil, errors.New("gbt: validation set features differ from the training set's")
		}
	} else if p.EarlyStoppingRounds > 0 {
		return nil, errors.New("gbt: early stopping needs a validation set")
	}
	start := time.Now()
	rng := rand.New(rand.NewPCG(p.Seed, 0x9e3779b97f4a7c15))
	n, nf := train.Rows(), len(train.Features)

	binSample := p.BinSampleRows
	if binSample < 0 {
		binSample = 0
	}
	bd := binDataset(train, p.Bins, binSample, p.Threads, rng)

	// Per-row weights with ScalePosWeight folded in, once.
	w := make([]float64, n)
	var sw, swy float64
	for i := range w {
		w[i] = train.weight(i)
		if train.Labels[i] == 1 {
			w[i] *= p.ScalePosWeight
			swy += w[i]
		}
		sw += w[i]
	}
	if sw == 0 {
		return nil, errors.New("gbt: all training weights are 0")
	}
	base := p.BaseScore
	if base == 0 {
		base = min(max(swy/sw, 1e-6), 1-1e-6)
	}
	baseMargin := math.Log(base / (1 - base))

	margin := make([]float64, n)
	for i := range margin {
		margin[i] = baseMargin
	}
	var vmargin []float64
	if valid != nil {
		vmargin = make([]float64, valid.Rows())
		for i := range vmargin {
			vmargin[i] = baseMargin
		}
	}

	g := newGrower(bd, &p, n)
	trees := make([]Tree, 0, p.NumTrees)
	best, bestRound := math.Inf(1), -1
	higherBetter := p.Metric == "auc"
	if higherBetter {
		best = math.Inf(-1)
	}
	vprob := make([]float64, len(vmargin))
	for round := 0; round < p.NumTrees; round++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		loss := g.gradients(train.Labels, w, margin, p.Progress != nil)
		rows := g.sampleRows(rng)
		g.sampleFeatures(rng)
		tree := g.grow(rows)
		g.updateMargins(tree, rows, margin)
		trees = append(trees, Tree{Nodes: tree})

		info := RoundInfo{Round: round, TrainLoss: loss, Valid: math.NaN(), BestRound: bestRound, Elapsed: time.Since(start)}
		for _, nd := range tree {
			if nd.IsLeaf() {
				info.Leaves++
			}
		}
		if valid != nil {
			addTree(tree, valid, vmargin)
			for i, z := range vmargin {
				vprob[i] = Sigmoid(z)
			}
			var v float64
			if higherBetter {
				v = AUC(valid.Labels, vprob, valid.Weights)
			} else {
				v = LogLoss(valid.Labels, vprob, valid.Weights)
			}
			info.Valid = v
			if (higherBetter && v > best) || (!higherBetter && v < best) {
				best, bestRound = v, round
			}
			info.BestRound = bestRound
			if p.EarlyStoppingRounds > 0 && round-bestRound >= p.EarlyStoppingRounds {
				info.StoppedEarly = true
			}
		}
		if p.Progress != nil {
			p.Progress(info)
		}
		if info.StoppedEarly {
			break
		}
	}
	if p.EarlyStoppingRounds > 0 && bestRound >= 0 {
		trees = trees[:bestRound+1]
	}
	m, err := NewModel(append([]string(nil), train.Features...), baseMargin, trees)
	if err != nil {
		return nil, fmt.Errorf("gbt: trained an invalid model (a bug): %w", err)
	}
	m.Meta = map[string]any{
		"objective":        "binary:logistic",
		"rows":             n,
		"features":         nf,
		"rounds":           len(trees),
		"best_round":       bestRound,
		"metric":           p.Metric,
		"best_metric":      nanToNil(best),
		"num_trees":        p.NumTrees,
		"max_depth":        p.MaxDepth,
		"learning_rate":    p.LearningRate,
		"lambda":           p.Lambda,
		"min_child_weight": p.MinChildWeight,
		"min_samples_leaf": p.MinSamplesLeaf,
		"min_split_gain":   p.MinSplitGain,
		"bins":             p.Bins,
		"subsample":        p.Subsample,
		"colsample":        p.ColSample,
		"scale_pos_weight": p.ScalePosWeight,
		"base_score":       base,
		"seed":             p.Seed,
		"train_seconds":    time.Since(start).Seconds(),
	}
	return m, nil
}

func nanToNil(x float64) any {
	if !finite(x) {
		return nil
	}
	return x
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// addTree adds tree's output to the margins of d's rows, reading raw
// values as prediction does.
func addTree(tree []Node, d *Dataset, margin []float64) {
	for i := range margin {
		j := 0
		for !tree[j].IsLeaf() {
			n := &tree[j]
			v := d.Cols[n.Feature][i]
			switch {
			case v < n.Threshold:
				j = n.Left
			case v >= n.Threshold:
				j = n.Right
			case n.DefaultLeft:
				j = n.Left
			default:
				j = n.Right
			}
		}
		margin[i] += tree[j].Value
	}
}
