package model

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"math"
)

//go:embed handset_logistic.json
var defaultModelJSON []byte

// Logistic is a logistic-regression Model loaded from JSON. It is immutable
// and safe for concurrent use.
//
// For each feature, x = transform(value), z = (x-mean)/scale and its
// contribution is weight*z; the score is sigmoid(intercept + sum). A feature
// absent from the input reads as its "missing" value (default 0). With
// "none_if_negative", a negative value means "none" (card_seconds_since_prev
// = -1: no earlier transaction) and the feature contributes 0, as if it were
// at its mean. The log1p transform reads negative values as 0.
type Logistic struct {
	version    string
	intercept  float64
	features   []logisticFeature
	thresholds Thresholds
	reasonMin  float64
	maxReasons int
}

type logisticFeature struct {
	v              variable
	weight         float64
	mean           float64
	scale          float64
	log1p          bool
	missing        float64
	noneIfNegative bool
	code, message  string
}

// logisticSpec is the JSON shape of a Logistic model.
type logisticSpec struct {
	Kind                  string        `json:"kind"` // "logistic" or absent
	Version               string        `json:"version"`
	Intercept             *float64      `json:"intercept"`
	Features              []featureSpec `json:"features"`
	Thresholds            *Thresholds   `json:"thresholds"`
	ReasonMinContribution *float64      `json:"reason_min_contribution"` // default 0.5
	MaxReasons            *int          `json:"max_reasons"`             // default 3
	// Training and Evaluation record how the model was made and how it
	// scored (scorer train writes them); they do not change scoring.
	Training   map[string]any `json:"training"`
	Evaluation map[string]any `json:"evaluation"`
}

type featureSpec struct {
	Name           string   `json:"name"`
	Weight         float64  `json:"weight"`
	Mean           float64  `json:"mean"`
	Scale          float64  `json:"scale"`
	Transform      string   `json:"transform"` // "none" (or empty) or "log1p"
	Code           string   `json:"code"`
	Message        string   `json:"message"`
	Missing        *float64 `json:"missing"`
	NoneIfNegative bool     `json:"none_if_negative"`
}

const (
	defaultReasonMin  = 0.5
	defaultMaxReasons = 3
)

var _ Model = (*Logistic)(nil)
var _ Thresholder = (*Logistic)(nil)

// LoadLogistic reads a Logistic model from a JSON file.
func LoadLogistic(path string) (*Logistic, error) {
	return loadFile(path, "logistic model", func(data []byte, _ string) (*Logistic, error) { return ParseLogistic(data) })
}

// ParseLogistic decodes and validates a Logistic model. Unknown JSON fields
// are an error; every invalid field is reported (errors.Join).
func ParseLogistic(data []byte) (*Logistic, error) {
	var spec logisticSpec
	if err := decodeStrict(data, &spec); err != nil {
		return nil, fmt.Errorf("logistic model: %w", err)
	}
	l, errs := spec.build()
	if len(errs) > 0 {
		return nil, fmt.Errorf("logistic model: %w", errors.Join(errs...))
	}
	return l, nil
}

// DefaultLogistic returns the embedded hand-set logistic model
// (handset_logistic.json): weights set by hand over the nine velocity
// features of DESIGN.md and the amount. It was the service's default
// before a trained one (Default); it stays as a small, readable model for
// tests and examples. It panics only if the embedded file is invalid,
// which the tests rule out.
func DefaultLogistic() *Logistic {
	l, err := ParseLogistic(defaultModelJSON)
	if err != nil {
		panic("model: embedded handset_logistic.json: " + err.Error())
	}
	return l
}

func (s *logisticSpec) build() (*Logistic, []error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	l := &Logistic{version: s.Version, reasonMin: defaultReasonMin, maxReasons: defaultMaxReasons}
	if s.Kind != "" && s.Kind != "logistic" {
		bad("kind %q is not logistic", s.Kind)
	}
	if s.Version == "" {
		bad("version is required")
	}
	switch {
	case s.Intercept == nil:
		bad("intercept is required")
	case !finite(*s.Intercept):
		bad("intercept must be a finite number")
	default:
		l.intercept = *s.Intercept
	}
	if s.Thresholds == nil {
		bad("thresholds are required")
	} else if err := s.Thresholds.validate(); err != nil {
		bad("%v", err)
	} else {
		l.thresholds = *s.Thresholds
	}
	if p := s.ReasonMinContribution; p != nil {
		if !finite(*p) || *p < 0 {
			bad("reason_min_contribution must be >= 0")
		}
		l.reasonMin = *p
	}
	if p := s.MaxReasons; p != nil {
		if *p < 0 {
			bad("max_reasons must be >= 0")
		}
		l.maxReasons = *p
	}
	if len(s.Features) == 0 {
		bad("features: at least one is required")
	}
	for i, f := range s.Features {
		at := fmt.Sprintf("features[%d] %s", i, f.Name)
		if f.Name == "" {
			bad("features[%d]: name is required", i)
		}
		for _, g := range s.Features[:i] {
			if f.Name != "" && g.Name == f.Name {
				bad("%s: duplicate feature", at)
				break
			}
		}
		if !finite(f.Weight) || !finite(f.Mean) {
			bad("%s: weight and mean must be finite", at)
		}
		if !(f.Scale > 0) || !finite(f.Scale) {
			bad("%s: scale must be > 0", at)
		}
		var log1p bool
		switch f.Transform {
		case "", "none":
		case "log1p":
			log1p = true
		default:
			bad("%s: unknown transform %q (want none or log1p)", at, f.Transform)
		}
		if !validCode(f.Code) {
			bad("%s: code must be upper-case [A-Z0-9_]+", at)
		}
		if f.Message == "" {
			bad("%s: message is required", at)
		}
		lf := logisticFeature{
			v: newVariable(f.Name), weight: f.Weight, mean: f.Mean, scale: f.Scale, log1p: log1p,
			noneIfNegative: f.NoneIfNegative, code: f.Code, message: f.Message,
		}
		if f.Missing != nil {
			if !finite(*f.Missing) {
				bad("%s: missing must be finite", at)
			}
			lf.missing = *f.Missing
		}
		l.features = append(l.features, lf)
	}
	return l, errs
}

// Version returns the model's version string.
func (l *Logistic) Version() string { return l.version }

// Thresholds returns the model's review and decline thresholds.
func (l *Logistic) Thresholds() Thresholds { return l.thresholds }

// CheckVariables returns an error naming each feature of the model that is
// neither in known nor a transaction variable; such a feature would always
// read as its missing value.
func (l *Logistic) CheckVariables(known []string) error {
	names := make([]string, len(l.features))
	for i := range l.features {
		names[i] = l.features[i].v.name
	}
	return checkVariables("logistic model "+l.version, names, known)
}

// Predict scores in. It allocates only the Contributions slice.
func (l *Logistic) Predict(ctx context.Context, in Input) (Prediction, error) {
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	return l.predict(&in, make([]Contribution, len(l.features))), nil
}

// predict fills buf, which must have len(l.features) elements, and returns
// it sorted in the Prediction.
func (l *Logistic) numVars() int { return len(l.features) }

func (l *Logistic) predict(in *Input, buf []Contribution) Prediction {
	z := l.intercept
	for i := range l.features {
		f := &l.features[i]
		c := f.contribution(in)
		z += c
		buf[i] = Contribution{Feature: f.v.name, Value: c, Code: f.code, Message: f.message}
	}
	sortContributions(buf)
	n := 0
	for n < len(buf) && n < l.maxReasons && buf[n].Value > l.reasonMin {
		n++
	}
	return Prediction{Score: sigmoid(z), Contributions: buf, NumReasons: n}
}

func (f *logisticFeature) contribution(in *Input) float64 {
	x, ok := f.v.value(in)
	if !ok || math.IsNaN(x) {
		x = f.missing
	}
	if f.noneIfNegative && x < 0 {
		return 0
	}
	if f.log1p {
		x = math.Log1p(max(x, 0))
	}
	return f.weight * (x - f.mean) / f.scale
}

func sigmoid(z float64) float64 { return 1 / (1 + math.Exp(-z)) }

// sortContributions sorts by Value, largest first, keeping the model's
// feature order among equals. Insertion sort: n is small and it does not
// allocate.
func sortContributions(c []Contribution) {
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j].Value > c[j-1].Value; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}
