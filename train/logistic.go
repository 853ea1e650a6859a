package train

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/floats"
	"gonum.org/v1/gonum/optimize"
	"gonum.org/v1/gonum/stat"

	"github.com/fraudscore/scorer/model"
)

// Defaults of LogisticOptions.
const (
	DefaultL2            = 1e-4
	DefaultMaxIterations = 500
	// SkewForLog1p is the sample skewness above which a non-negative
	// feature is read through log1p.
	SkewForLog1p = 1.0
)

// LogisticOptions configure FitLogistic and TrainLogistic. The zero value
// of each field is its default.
type LogisticOptions struct {
	// Version names the model (required).
	Version string
	// Thresholds are written into the model; TrainLogistic requires them
	// (0 < review <= decline <= 1). Pick them on a validation split with
	// package eval, from this model's scores.
	Thresholds model.Thresholds

	// L2 is the penalty on the weights (not the intercept): the trainer
	// minimises the weighted mean log loss plus L2/2 * sum(weight^2), over
	// standardised features (0: DefaultL2; negative: no penalty).
	L2 float64
	// PositiveWeight is the weight of each fraud row in the loss relative
	// to a legitimate one (0: 1). It raises the scores of the whole model,
	// so that they are no longer the fraud probability.
	PositiveWeight float64
	// Balanced weighs the classes equally (PositiveWeight = legitimate
	// rows / fraud rows), overriding PositiveWeight.
	Balanced bool

	// Transforms force "log1p" or "none" for the named features; the
	// others are chosen from the data (see FitLogistic).
	Transforms map[string]string
	// Codes and Messages give the reason code and message of the named
	// features; by default the code is the name upper-cased and the
	// message "<name in words> is unusual".
	Codes, Messages map[string]string
	// ReasonMinContribution (0: 0.5) and MaxReasons (0: 3) are written
	// into the model; see model.Logistic.
	ReasonMinContribution float64
	MaxReasons            int

	// MaxIterations bounds the L-BFGS iterations (0: DefaultMaxIterations).
	// A fit that stops early (at this bound, or on a failed line search)
	// is an error unless its gradient is down to a thousandth of the
	// starting point's.
	MaxIterations int
	// Workers evaluate the loss over row chunks in parallel (0:
	// GOMAXPROCS). The result depends on it only by rounding.
	Workers int
}

// LogisticModel is a fitted logistic regression, in the JSON shape that
// model.ParseLogistic reads.
type LogisticModel struct {
	Version               string            `json:"version"`
	Intercept             float64           `json:"intercept"`
	ReasonMinContribution float64           `json:"reason_min_contribution"`
	MaxReasons            int               `json:"max_reasons"`
	Thresholds            model.Thresholds  `json:"thresholds"`
	Features              []LogisticFeature `json:"features"`

	// Fit tells how the training went; it is not part of the model.
	Fit FitStats `json:"-"`
}

// LogisticFeature is one feature of a LogisticModel: x = transform(value),
// z = (x - Mean) / Scale, contribution Weight * z (see model.Logistic).
type LogisticFeature struct {
	Name           string   `json:"name"`
	Transform      string   `json:"transform"`
	Mean           float64  `json:"mean"`
	Scale          float64  `json:"scale"`
	Weight         float64  `json:"weight"`
	Missing        *float64 `json:"missing,omitempty"`
	NoneIfNegative bool     `json:"none_if_negative,omitempty"`
	Code           string   `json:"code"`
	Message        string   `json:"message"`
}

// FitStats describe a fit.
type FitStats struct {
	Rows, Positives int
	PositiveWeight  float64
	L2              float64
	// Loss is the final objective: weighted mean log loss plus penalty.
	Loss            float64
	GradNorm        float64 // largest |gradient| component at the end
	Iterations      int
	FuncEvaluations int
	Status          string // gonum/optimize's termination status
	Duration        time.Duration
}

// TrainLogistic fits a logistic regression on t (see FitLogistic) and
// returns it as model JSON, with opts.Thresholds.
func TrainLogistic(t *Table, features []string, opts LogisticOptions) ([]byte, error) {
	m, err := FitLogistic(t, features, opts)
	if err != nil {
		return nil, err
	}
	return m.JSON()
}

// FitLogistic fits a logistic regression of t's labels on the named
// features (nil: every column of t).
//
// Each feature is prepared as model.Logistic reads it, so that training
// sees what serving computes:
//   - It is "none if negative", with missing -1, when its name ends in
//     _seconds_since_prev or its negative values are all -1 (the "no
//     previous event" of such features); those rows contribute 0, as if
//     at the mean, and are left out of its mean and scale.
//   - NaN reads as its missing value (-1 or 0), as an absent feature does.
//   - Its transform is log1p when its values are non-negative and their
//     sample skewness is above SkewForLog1p (counts, amounts), else none,
//     unless opts.Transforms says.
//   - Mean and Scale are the mean and standard deviation of the
//     transformed values on t (Scale 1 for a constant feature).
//
// The weights minimise the class-weighted mean log loss plus the L2
// penalty on the standardised features, by L-BFGS (gonum/optimize) from
// the prior log-odds, the loss and gradient computed column by column over
// row chunks in parallel.
func FitLogistic(t *Table, features []string, opts LogisticOptions) (*LogisticModel, error) {
	start := time.Now()
	if err := t.Validate(); err != nil {
		return nil, err
	}
	if opts.Version == "" {
		return nil, errors.New("train: LogisticOptions.Version is required")
	}
	if t.Labels == nil {
		return nil, errors.New("train: the table has no labels")
	}
	if features == nil {
		features = t.Names
	}
	if len(features) == 0 {
		return nil, errors.New("train: no features")
	}
	var errs []error
	cols := make([][]float64, len(features))
	for j, name := range features {
		col, ok := t.Column(name)
		if !ok {
			errs = append(errs, fmt.Errorf("train: the table has no feature %q", name))
		} else if slices.Index(features, name) < j {
			errs = append(errs, fmt.Errorf("train: feature %q is listed twice", name))
		}
		cols[j] = col
		if slices.ContainsFunc(col, func(v float64) bool { return math.IsInf(v, 0) }) {
			errs = append(errs, fmt.Errorf("train: feature %q has infinite values", name))
		}
		if tr, ok := opts.Transforms[name]; ok && tr != "none" && tr != "log1p" {
			errs = append(errs, fmt.Errorf("train: feature %q: unknown transform %q (want none or log1p)", name, tr))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	pos := 0
	for _, y := range t.Labels {
		if y {
			pos++
		}
	}
	neg := t.Len() - pos
	if pos == 0 || neg == 0 {
		return nil, fmt.Errorf("train: need both classes, have %d fraud and %d legitimate rows", pos, neg)
	}
	pw := opts.PositiveWeight
	switch {
	case opts.Balanced:
		pw = float64(neg) / float64(pos)
	case pw == 0:
		pw = 1
	case !(pw > 0) || math.IsInf(pw, 0):
		return nil, fmt.Errorf("train: PositiveWeight %v must be > 0", pw)
	}
	l2 := opts.L2
	switch {
	case l2 == 0:
		l2 = DefaultL2
	case l2 < 0:
		l2 = 0
	}

	m := &LogisticModel{
		Version:               opts.Version,
		Thresholds:            opts.Thresholds,
		ReasonMinContribution: cmp.Or(opts.ReasonMinContribution, 0.5),
		MaxReasons:            cmp.Or(opts.MaxReasons, 3),
		Features:              make([]LogisticFeature, len(features)),
	}
	p := &problem{y: t.Labels, pw: pw, l2: l2, x: make([][]float64, len(features))}
	p.wsum = float64(neg) + pw*float64(pos)
	workers := opts.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	// Features are prepared in parallel, workers at a time.
	var wg sync.WaitGroup
	sem := make(chan struct{}, workers)
	for j, name := range features {
		tr, forced := opts.Transforms[name]
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			m.Features[j], p.x[j] = prepare(name, cols[j], tr, forced)
		})
	}
	wg.Wait()
	for j, name := range features {
		m.Features[j].Code = reasonCode(name, opts.Codes)
		m.Features[j].Message = reasonMessage(name, opts.Messages)
	}
	p.split(t.Len(), workers)

	beta := make([]float64, len(features)+1)
	beta[0] = math.Log(pw * float64(pos) / float64(neg)) // the weighted prior log-odds
	settings := &optimize.Settings{
		GradientThreshold: 1e-7,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-12, Relative: 1e-10, Iterations: 20},
		MajorIterations:   cmp.Or(opts.MaxIterations, DefaultMaxIterations),
	}
	g := make([]float64, len(beta))
	p.eval(beta, g)
	gnorm0 := floats.Norm(g, math.Inf(1))
	res, err := optimize.Minimize(optimize.Problem{Func: p.fn, Grad: p.grad}, beta, settings, &optimize.LBFGS{})
	if res == nil {
		return nil, fmt.Errorf("train: logistic regression: %w", err)
	}
	f := p.eval(res.X, g)
	gnorm := floats.Norm(g, math.Inf(1))
	if !finite(f) || !allFinite(res.X) {
		return nil, fmt.Errorf("train: logistic regression diverged (%v)", res.Status)
	}
	if err == nil {
		err = res.Status.Err() // an early stop: a limit or a failure
	}
	// A line search that fails at the optimum, where the loss no longer
	// changes in floating point, is success in all but name: accept an
	// early stop where the gradient is a thousandth of the start's.
	if err != nil && gnorm > 1e-3*gnorm0 {
		return nil, fmt.Errorf("train: logistic regression: %v, largest gradient %.3g: %w", res.Status, gnorm, err)
	}
	m.Intercept = res.X[0]
	for j := range m.Features {
		m.Features[j].Weight = res.X[j+1]
	}
	m.Fit = FitStats{
		Rows: t.Len(), Positives: pos, PositiveWeight: pw, L2: l2,
		Loss: f, GradNorm: gnorm,
		Iterations: res.MajorIterations, FuncEvaluations: p.evals,
		Status: res.Status.String(), Duration: time.Since(start),
	}
	return m, nil
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

func allFinite(xs []float64) bool {
	for _, x := range xs {
		if !finite(x) {
			return false
		}
	}
	return true
}

// noneIfNegative reports whether a feature's negative values mean "none".
func noneIfNegative(name string, col []float64) bool {
	if strings.HasSuffix(name, "_seconds_since_prev") {
		return true
	}
	seen := false
	for _, v := range col {
		if v < 0 {
			if v != -1 {
				return false
			}
			seen = true
		}
	}
	return seen
}

// prepare decides how feature name is read and returns its standardised
// column, as model.Logistic computes it: 0 for a "none" row.
func prepare(name string, col []float64, transform string, forced bool) (LogisticFeature, []float64) {
	f := LogisticFeature{Name: name, NoneIfNegative: noneIfNegative(name, col)}
	missing := 0.0
	if f.NoneIfNegative {
		missing = -1
		f.Missing = &missing
	}
	// The values that count: NaN as missing, "none" rows left out.
	vals := make([]float64, 0, len(col))
	for _, v := range col {
		if math.IsNaN(v) {
			v = missing
		}
		if f.NoneIfNegative && v < 0 {
			continue
		}
		vals = append(vals, v)
	}
	if !forced {
		transform = "none"
		if len(vals) > 2 && floats.Min(vals) >= 0 && stat.Skew(vals, nil) > SkewForLog1p {
			transform = "log1p"
		}
	}
	f.Transform = transform
	if transform == "log1p" {
		for i, v := range vals {
			vals[i] = math.Log1p(max(v, 0))
		}
	}
	f.Mean, f.Scale = 0, 1
	if len(vals) > 0 {
		mean, std := stat.PopMeanStdDev(vals, nil)
		f.Mean = mean
		if std > 1e-12*max(1, math.Abs(mean)) && finite(std) {
			f.Scale = std
		}
	}
	z := make([]float64, len(col))
	for i, v := range col {
		z[i] = f.standardise(v)
	}
	return f, z
}

// read returns v as model.Logistic reads it: NaN as the missing value,
// then transformed; none is true for a "none" value, which contributes 0.
func (f *LogisticFeature) read(v float64) (x float64, none bool) {
	if math.IsNaN(v) {
		v = 0
		if f.Missing != nil {
			v = *f.Missing
		}
	}
	if f.NoneIfNegative && v < 0 {
		return 0, true
	}
	if f.Transform == "log1p" {
		v = math.Log1p(max(v, 0))
	}
	return v, false
}

// standardise returns v as the trainer sees it, z = (x-Mean)/Scale, 0 for
// "none".
func (f *LogisticFeature) standardise(v float64) float64 {
	x, none := f.read(v)
	if none {
		return 0
	}
	return (x - f.Mean) / f.Scale
}

// contribution is model.Logistic's contribution of v, in the same
// operations.
func (f *LogisticFeature) contribution(v float64) float64 {
	x, none := f.read(v)
	if none {
		return 0
	}
	return f.Weight * (x - f.Mean) / f.Scale
}

func reasonCode(name string, codes map[string]string) string {
	if c, ok := codes[name]; ok {
		return c
	}
	b := []byte(strings.ToUpper(name))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			b[i] = '_'
		}
	}
	return string(b)
}

func reasonMessage(name string, messages map[string]string) string {
	if m, ok := messages[name]; ok {
		return m
	}
	return strings.Join(strings.FieldsFunc(name, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), " ") + " is unusual"
}

// JSON returns the model in model.ParseLogistic's format, checked by
// parsing it back; the thresholds must be set.
func (m *LogisticModel) JSON() ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	if _, err := model.ParseLogistic(data); err != nil {
		return nil, fmt.Errorf("train: the model does not load: %w", err)
	}
	return append(data, '\n'), nil
}

// Score returns the model's score of every row of t, computed as
// model.Logistic.Predict does (the same operations in the same order, so
// the same float64s), but over columns.
func (m *LogisticModel) Score(t *Table) ([]float64, error) {
	n := t.Len()
	z := make([]float64, n)
	for i := range z {
		z[i] = m.Intercept
	}
	for j := range m.Features {
		f := &m.Features[j]
		col, ok := t.Column(f.Name)
		if !ok {
			return nil, fmt.Errorf("train: the table has no feature %q", f.Name)
		}
		if len(col) != n {
			return nil, fmt.Errorf("train: feature %q has %d values for %d rows", f.Name, len(col), n)
		}
		for i, v := range col {
			z[i] += f.contribution(v)
		}
	}
	for i, v := range z {
		z[i] = 1 / (1 + math.Exp(-v))
	}
	return z, nil
}

// problem is the objective: the weighted mean log loss of the labels y
// given z = beta[0] + sum_j beta[j+1]*x[j], plus l2/2 * |beta[1:]|^2.
type problem struct {
	x    [][]float64 // standardised feature columns
	y    []bool
	pw   float64 // weight of a positive row
	wsum float64 // sum of row weights
	l2   float64

	chunks [][2]int    // row ranges evaluated in parallel
	parts  [][]float64 // per chunk: loss, then the gradient's sums
	zs     [][]float64 // per chunk: scratch for a block of rows

	// The last point evaluated; optimize asks for the value and the
	// gradient at the same points, and one pass gives both.
	lastX, lastG []float64
	lastF        float64
	evals        int
}

// block is how many rows a chunk works on at a time: the z and residual
// scratch and a block of each column stay in cache.
const block = 2048

func (p *problem) split(n, workers int) {
	workers = max(1, min(workers, (n+block-1)/block))
	for w := range workers {
		lo, hi := w*n/workers, (w+1)*n/workers
		p.chunks = append(p.chunks, [2]int{lo, hi})
		p.parts = append(p.parts, make([]float64, len(p.x)+2))
		p.zs = append(p.zs, make([]float64, block))
	}
}

func (p *problem) fn(beta []float64) float64 {
	p.cached(beta)
	return p.lastF
}

func (p *problem) grad(g, beta []float64) {
	p.cached(beta)
	copy(g, p.lastG)
}

func (p *problem) cached(beta []float64) {
	if p.lastX != nil && slices.Equal(p.lastX, beta) {
		return
	}
	if p.lastG == nil {
		p.lastG = make([]float64, len(beta))
	}
	p.lastF = p.eval(beta, p.lastG)
	p.lastX = append(p.lastX[:0], beta...)
}

// eval returns the objective at beta and writes its gradient to g.
func (p *problem) eval(beta, g []float64) float64 {
	p.evals++
	var wg sync.WaitGroup
	for c := range p.chunks {
		wg.Go(func() { p.evalChunk(c, beta) })
	}
	wg.Wait()
	// Sum the chunks in a fixed order, so that a fit is reproducible.
	var loss float64
	clear(g)
	for _, part := range p.parts {
		loss += part[0]
		floats.Add(g, part[1:])
	}
	f := loss / p.wsum
	floats.Scale(1/p.wsum, g)
	for j := 1; j < len(beta); j++ {
		f += p.l2 / 2 * beta[j] * beta[j]
		g[j] += p.l2 * beta[j]
	}
	return f
}

// evalChunk sums the loss and the gradient over the rows of chunk c into
// p.parts[c]: for each block of rows, z column by column, then the
// weighted residuals r = w*(sigmoid(z) - y) in place of z, then r's sum
// and its dot product with each column.
func (p *problem) evalChunk(c int, beta []float64) {
	part := p.parts[c]
	clear(part)
	lo, hi := p.chunks[c][0], p.chunks[c][1]
	for a := lo; a < hi; a += block {
		b := min(a+block, hi)
		z := p.zs[c][:b-a]
		for i := range z {
			z[i] = beta[0]
		}
		for j, col := range p.x {
			if beta[j+1] != 0 {
				floats.AddScaled(z, beta[j+1], col[a:b])
			}
		}
		y := p.y[a:b]
		var loss float64
		for i, zi := range z {
			// softplus(z) = log(1+e^z) and sigmoid(z) from one exp.
			e := math.Exp(-math.Abs(zi))
			sp := max(zi, 0) + math.Log1p(e)
			s := 1 / (1 + e)
			if zi < 0 {
				s = e / (1 + e)
			}
			if y[i] {
				loss += p.pw * (sp - zi)
				z[i] = p.pw * (s - 1)
			} else {
				loss += sp
				z[i] = s
			}
		}
		part[0] += loss
		part[1] += floats.Sum(z)
		for j, col := range p.x {
			part[j+2] += floats.Dot(z, col[a:b])
		}
	}
}
