package model

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/fraudscore/scorer/gbt"
)

// Trees is a gradient-boosted trees Model (a gbt.Model with the scorer's
// thresholds and reason codes), loaded from a "kind": "gbt" file. It is
// immutable and safe for concurrent use.
//
// Each of the model's features is read from the Input by name (the
// velocity features, or a transaction variable such as "amount"); a
// feature absent from the Input is missing (NaN) and follows each split's
// learned default direction. Contributions are the trees' path
// attributions (gbt.Model.Contributions), in logit units like Logistic's.
type Trees struct {
	version    string
	model      *gbt.Model
	vars       []variable // per model feature, in the model's order
	codes      []string
	messages   []string
	thresholds Thresholds
	reasonMin  float64
	maxReasons int
}

// TreesFile is the JSON shape of a Trees model:
//
//	{"kind": "gbt", "version": "gbt-2026-12-02",
//	 "features": ["card_tx_count_1m", ..., "amount"],
//	 "thresholds": {"review": 0.5, "decline": 0.85},
//	 "reasons": {"card_tx_count_1m": {"code": "CARD_VELOCITY_1M", "message": "..."}},
//	 "max_reasons": 3, "reason_min_contribution": 0.3,
//	 "model": {...gbt.Model JSON...},
//	 "training": {...}, "evaluation": {...}}
//
// features must be the model's features in the model's order: it is there
// so that a reader sees what the model reads without opening the trees. A
// feature without an entry in reasons gets a code and message made from
// its name (DefaultReason). training and evaluation are free-form records
// of how the model was made and how it scored; loading keeps them as they
// are.
type TreesFile struct {
	Kind                  string            `json:"kind"`
	Version               string            `json:"version"`
	Features              []string          `json:"features"`
	Thresholds            *Thresholds       `json:"thresholds"`
	Reasons               map[string]Reason `json:"reasons,omitempty"`
	MaxReasons            *int              `json:"max_reasons,omitempty"`             // default 3
	ReasonMinContribution *float64          `json:"reason_min_contribution,omitempty"` // default 0.5
	Model                 *gbt.Model        `json:"model"`
	Training              map[string]any    `json:"training,omitempty"`
	Evaluation            map[string]any    `json:"evaluation,omitempty"`
}

// Reason is the code and analyst-readable message told when a feature
// drives a score up.
type Reason struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// KindGBT is the "kind" of a Trees file.
const KindGBT = "gbt"

var _ Model = (*Trees)(nil)
var _ Thresholder = (*Trees)(nil)

// LoadTrees reads a Trees model from a JSON file.
func LoadTrees(path string) (*Trees, error) {
	return loadFile(path, "trees model", func(data []byte, _ string) (*Trees, error) { return ParseTrees(data) })
}

// ParseTrees decodes and validates a Trees model. Unknown JSON fields are
// an error; every invalid field is reported (errors.Join).
func ParseTrees(data []byte) (*Trees, error) {
	var f TreesFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("trees model: %w", err)
	}
	return NewTrees(&f)
}

// NewTrees validates f and returns the Model it describes; a training
// program builds a TreesFile around its gbt.Model, checks it with
// NewTrees and writes it with json.Marshal.
func NewTrees(f *TreesFile) (*Trees, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	t := &Trees{version: f.Version, reasonMin: defaultReasonMin, maxReasons: defaultMaxReasons}
	if f.Kind != KindGBT {
		bad("kind is %q, want %q", f.Kind, KindGBT)
	}
	if f.Version == "" {
		bad("version is required")
	}
	if f.Thresholds == nil {
		bad("thresholds are required")
	} else if err := f.Thresholds.validate(); err != nil {
		bad("%v", err)
	} else {
		t.thresholds = *f.Thresholds
	}
	if p := f.ReasonMinContribution; p != nil {
		if !finite(*p) || *p < 0 {
			bad("reason_min_contribution must be >= 0")
		}
		t.reasonMin = *p
	}
	if p := f.MaxReasons; p != nil {
		if *p < 0 {
			bad("max_reasons must be >= 0")
		}
		t.maxReasons = *p
	}
	if f.Model == nil {
		bad("model is required")
	} else if !slices.Equal(f.Features, f.Model.Features) {
		bad("features %v are not the model's features %v (same names, same order)", f.Features, f.Model.Features)
	}
	for name, r := range f.Reasons {
		if !slices.Contains(f.Features, name) {
			bad("reasons: %q is not a feature of the model", name)
		}
		if !validCode(r.Code) {
			bad("reasons: %s: code must be upper-case [A-Z0-9_]+", name)
		}
		if r.Message == "" {
			bad("reasons: %s: message is required", name)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("trees model: %w", errors.Join(errs...))
	}
	t.model = f.Model
	for _, name := range f.Features {
		r, ok := f.Reasons[name]
		if !ok {
			r = DefaultReason(name)
		}
		t.vars = append(t.vars, newVariable(name))
		t.codes = append(t.codes, r.Code)
		t.messages = append(t.messages, r.Message)
	}
	return t, nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and
// trailing data.
// checkVariables returns an error naming each of a model's variables
// (names) that is neither in known nor a transaction variable; model
// names the model in the messages.
func checkVariables(model string, names, known []string) error {
	var errs []error
	for _, n := range names {
		if !slices.Contains(known, n) && !slices.Contains(TransactionVariables(), n) {
			errs = append(errs, fmt.Errorf("%s: unknown variable %q", model, n))
		}
	}
	return errors.Join(errs...)
}

// varNames returns the names of vars, in order.
func varNames(vars []variable) []string {
	out := make([]string, len(vars))
	for i := range vars {
		out[i] = vars[i].name
	}
	return out
}

// loadFile reads the model file at path and parses it with parse, which
// gets the file's directory for the files it names; errors name the path.
func loadFile[M any](path, what string, parse func(data []byte, dir string) (M, error)) (M, error) {
	var zero M
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("load %s: %w", what, err)
	}
	m, err := parse(data, filepath.Dir(path))
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// decodeStrict decodes one JSON object into v: unknown fields and
// anything after the object are errors.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON object")
	}
	return nil
}

// DefaultReason is the reason told for a feature that its model file gives
// none: the name upper-cased as the code, and a message that the value is
// unusual for the entity the name starts with (card_amount_sum_24h:
// CARD_AMOUNT_SUM_24H, "card amount sum 24h is unusual for this card").
func DefaultReason(feature string) Reason {
	code := []byte(strings.ToUpper(feature))
	for i, c := range code {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			code[i] = '_'
		}
	}
	if len(code) == 0 {
		code = []byte("FEATURE")
	}
	words := strings.Join(strings.FieldsFunc(feature, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), " ")
	entity := "transaction"
	if first, _, ok := strings.Cut(feature, "_"); ok {
		switch first {
		case "card", "merchant", "device", "ip", "account", "customer", "email":
			entity = first
		}
	}
	return Reason{Code: string(code), Message: words + " is unusual for this " + entity}
}

// Version returns the model's version string.
func (t *Trees) Version() string { return t.version }

// Thresholds returns the model's review and decline thresholds.
func (t *Trees) Thresholds() Thresholds { return t.thresholds }

// Features returns the names of the model's features, in its order.
func (t *Trees) Features() []string { return slices.Clone(t.model.Features) }

// GBT returns the underlying trees.
func (t *Trees) GBT() *gbt.Model { return t.model }

// CheckVariables returns an error naming each feature of the model that is
// neither in known nor a transaction variable; such a feature would always
// be missing.
func (t *Trees) CheckVariables(known []string) error {
	return checkVariables("trees model "+t.version, varNames(t.vars), known)
}

// maxStackFeatures bounds the feature vectors Predict keeps on the stack;
// a larger model still works, with two more allocations.
const maxStackFeatures = 64

// Predict scores in. It allocates only the Contributions slice (for up to
// maxStackFeatures features).
func (t *Trees) Predict(ctx context.Context, in Input) (Prediction, error) {
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	return t.predict(&in, make([]Contribution, len(t.vars))), nil
}

func (t *Trees) numVars() int { return len(t.vars) }

// predict fills buf, which must have len(t.vars) elements, and returns it
// sorted in the Prediction.
func (t *Trees) predict(in *Input, buf []Contribution) Prediction {
	n := len(t.vars)
	var xs, cs [maxStackFeatures]float64
	x, c := xs[:], cs[:]
	if n > maxStackFeatures {
		x, c = make([]float64, n), make([]float64, n)
	}
	x, c = x[:n], c[:n]
	for i := range t.vars {
		v, ok := t.vars[i].value(in)
		if !ok {
			v = math.NaN()
		}
		x[i] = v
	}
	bias := t.model.Contributions(x, c)
	z := bias
	for i := range c {
		z += c[i]
		buf[i] = Contribution{Feature: t.vars[i].name, Value: c[i], Code: t.codes[i], Message: t.messages[i]}
	}
	sortContributions(buf)
	k := 0
	for k < len(buf) && k < t.maxReasons && buf[k].Value > t.reasonMin {
		k++
	}
	return Prediction{Score: sigmoid(z), Contributions: buf, NumReasons: k}
}

// LoadAny reads a model file of any kind this package knows, by its
// "kind" field: "gbt" (LoadTrees), "xgboost" or "lightgbm" (LoadExternal,
// whose model file is found beside it), and "logistic" or no kind at all
// (LoadLogistic: the logistic format predates the field).
func LoadAny(path string) (Model, error) { return loadFile(path, "model", parseAny) }

// ParseAny decodes a model of kind logistic or gbt (see LoadAny); the
// external kinds, which name a file of their own, need LoadAny.
func ParseAny(data []byte) (Model, error) { return parseAny(data, "") }

func parseAny(data []byte, dir string) (Model, error) {
	var head struct {
		Kind    *string         `json:"kind"`
		Learner json.RawMessage `json:"learner"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	kind := ""
	if head.Kind != nil {
		kind = *head.Kind
	}
	if kind == "" && head.Learner != nil {
		return nil, errors.New(`model: this is XGBoost's own JSON; load it through a small file that names it and its features: {"kind": "xgboost", "version": ..., "features": [...], "thresholds": {...}, "path": "this-file.json"} (docs/MODELS.md)`)
	}
	switch kind {
	case "", "logistic":
		return ParseLogistic(data)
	case KindGBT:
		return ParseTrees(data)
	case KindXGBoost, KindLightGBM:
		if dir == "" {
			return nil, fmt.Errorf("model: a %s model names a file of its own: load it from its path", kind)
		}
		return parseExternal(data, dir)
	}
	return nil, fmt.Errorf("model kind %q is not one of logistic, gbt, xgboost, lightgbm", kind)
}
