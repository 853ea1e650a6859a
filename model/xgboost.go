package model

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/dmitryikh/leaves"
	"github.com/dmitryikh/leaves/transformation"

	"github.com/fraudscore/scorer/gbt"
)

// Kinds of model files trained outside the scorer, described by a small
// JSON file beside the model (ExternalFile).
const (
	KindXGBoost  = "xgboost"
	KindLightGBM = "lightgbm"
)

// ExternalFile describes a model trained by XGBoost or LightGBM:
//
//	{"kind": "xgboost", "version": "xgb-2026-12-02",
//	 "features": ["card_tx_count_1m", ..., "amount"],
//	 "thresholds": {"review": 0.5, "decline": 0.85},
//	 "path": "model.json"}
//
// features are the model's columns in order (XGBoost and LightGBM know
// them by position). path is the model file, relative to this file's
// directory:
//
//   - xgboost, "*.json" (Booster.save_model("model.json"), XGBoost 1.0 and
//     later): imported into a gbt.Model (gbt.ImportXGBoostJSON), so it
//     predicts exactly as XGBoost does and gives per-feature contributions
//     for reason codes; the result is a *Trees, and reasons, max_reasons
//     and reason_min_contribution apply as in a Trees file.
//   - xgboost, any other name: XGBoost's binary format, which is refused:
//     leaves reads only the layout of XGBoost before 1.0, and a file from
//     1.0 or later makes it allocate without bound. Save the model as JSON.
//   - lightgbm, "*.txt" (Booster.save_model) or "*.json"
//     (Booster.dump_model): read by github.com/dmitryikh/leaves. These
//     models give no reasons: leaves computes no contributions.
type ExternalFile struct {
	Kind                  string            `json:"kind"`
	Version               string            `json:"version"`
	Features              []string          `json:"features"`
	Thresholds            *Thresholds       `json:"thresholds"`
	Path                  string            `json:"path"`
	Reasons               map[string]Reason `json:"reasons,omitempty"`
	MaxReasons            *int              `json:"max_reasons,omitempty"`
	ReasonMinContribution *float64          `json:"reason_min_contribution,omitempty"`
	Training              map[string]any    `json:"training,omitempty"`
	Evaluation            map[string]any    `json:"evaluation,omitempty"`
}

// LoadExternal reads an ExternalFile and the model it points to: a *Trees
// for an XGBoost JSON model, a *Leaves for a LightGBM model.
func LoadExternal(path string) (Model, error) { return loadFile(path, "external model", parseExternal) }

func parseExternal(data []byte, dir string) (Model, error) {
	var f ExternalFile
	if err := decodeStrict(data, &f); err != nil {
		return nil, fmt.Errorf("external model: %w", err)
	}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if f.Kind != KindXGBoost && f.Kind != KindLightGBM {
		bad("kind is %q, want %s or %s", f.Kind, KindXGBoost, KindLightGBM)
	}
	if f.Version == "" {
		bad("version is required")
	}
	if f.Thresholds == nil {
		bad("thresholds are required")
	} else if err := f.Thresholds.validate(); err != nil {
		bad("%v", err)
	}
	if len(f.Features) == 0 {
		bad("features: at least one is required")
	}
	for i, name := range f.Features {
		if name == "" || slices.Contains(f.Features[:i], name) {
			bad("features[%d]: empty or duplicate name %q", i, name)
		}
	}
	if f.Path == "" {
		bad("path is required")
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("external model: %w", errors.Join(errs...))
	}
	path := f.Path
	if !filepath.IsAbs(path) {
		path = filepath.Join(dir, path)
	}
	model, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("external model: %w", err)
	}
	isJSON := strings.EqualFold(filepath.Ext(path), ".json")

	if f.Kind == KindXGBoost {
		if !isJSON {
			return nil, fmt.Errorf("external model: %s: XGBoost's binary format is not supported (leaves reads only XGBoost < 1.0's); save the model as JSON: booster.save_model(\"model.json\")", f.Path)
		}
		g, err := gbt.ImportXGBoostJSON(model, f.Features)
		if err != nil {
			return nil, fmt.Errorf("external model: %s: %w", f.Path, err)
		}
		return NewTrees(&TreesFile{
			Kind: KindGBT, Version: f.Version, Features: f.Features, Thresholds: f.Thresholds,
			Reasons: f.Reasons, MaxReasons: f.MaxReasons, ReasonMinContribution: f.ReasonMinContribution,
			Model: g, Training: f.Training, Evaluation: f.Evaluation,
		})
	}
	if f.Reasons != nil || f.MaxReasons != nil || f.ReasonMinContribution != nil {
		return nil, errors.New("external model: reasons need contributions, which LightGBM models read by leaves do not give")
	}
	ens, err := readLightGBM(model, isJSON)
	if err != nil {
		return nil, fmt.Errorf("external model: %s: leaves: %w", f.Path, err)
	}
	if ens.Transformation().Type() != transformation.Logistic || ens.NOutputGroups() != 1 {
		return nil, fmt.Errorf("external model: %s: a binary model with a sigmoid output is required (leaves reads %s)", f.Path, ens.Transformation().Name())
	}
	if ens.NFeatures() > len(f.Features) {
		return nil, fmt.Errorf("external model: %s: the model reads %d features, the file names %d", f.Path, ens.NFeatures(), len(f.Features))
	}
	l := &Leaves{version: f.Version, ens: ens, thresholds: *f.Thresholds}
	for _, name := range f.Features {
		l.vars = append(l.vars, newVariable(name))
	}
	return l, nil
}

// readLightGBM reads a LightGBM model (text, or JSON from dump_model) with
// leaves, turning its panics on malformed input (it indexes what it has
// not checked) into errors: a bad model file must not take the scorer down.
func readLightGBM(data []byte, isJSON bool) (ens *leaves.Ensemble, err error) {
	defer func() {
		if r := recover(); r != nil {
			ens, err = nil, fmt.Errorf("malformed LightGBM model: %v", r)
		}
	}()
	if isJSON {
		return leaves.LGEnsembleFromJSON(bytes.NewReader(data), true)
	}
	return leaves.LGEnsembleFromReader(bufio.NewReader(bytes.NewReader(data)), true)
}

// Leaves is a Model over a LightGBM ensemble read by leaves. It gives a
// score and no contributions. It is immutable and safe for concurrent use.
type Leaves struct {
	version    string
	ens        *leaves.Ensemble
	vars       []variable
	thresholds Thresholds
}

var _ Model = (*Leaves)(nil)
var _ Thresholder = (*Leaves)(nil)

// Version returns the model's version string.
func (l *Leaves) Version() string { return l.version }

// Thresholds returns the model's review and decline thresholds.
func (l *Leaves) Thresholds() Thresholds { return l.thresholds }

// CheckVariables returns an error naming each feature that is neither in
// known nor a transaction variable.
func (l *Leaves) CheckVariables(known []string) error {
	return checkVariables("model "+l.version, varNames(l.vars), known)
}

// Predict scores in; a feature absent from in is missing (NaN), which
// each split of a LightGBM model sends its own way (or reads as 0, as
// LightGBM does for a feature trained without missing values).
func (l *Leaves) Predict(ctx context.Context, in Input) (Prediction, error) {
	if err := ctx.Err(); err != nil {
		return Prediction{}, err
	}
	var xs [maxStackFeatures]float64
	x := xs[:]
	if len(l.vars) > len(xs) {
		x = make([]float64, len(l.vars))
	}
	x = x[:len(l.vars)]
	for i := range l.vars {
		v, ok := l.vars[i].value(&in)
		if !ok {
			v = math.NaN()
		}
		x[i] = v
	}
	return Prediction{Score: l.ens.PredictSingle(x, 0)}, nil
}
