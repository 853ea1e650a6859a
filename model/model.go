// Package model turns a transaction and its velocity features into a score,
// a decision and reasons, from hand-written rules and a statistical model,
// within the request's deadline.
//
//	rules, _ := model.DefaultRules(known)
//	eng := model.NewEngine(rules, model.DefaultLogistic(), model.Options{})
//	out := eng.Score(ctx, model.Input{Tx: &tx, Features: feats})
//
// Variables seen by rules and models are the velocity features by name (see
// DESIGN.md) and the transaction variables of TransactionVariables. A
// feature missing from Input.Features reads as 0. card_seconds_since_prev is
// -1 when the card has no earlier transaction: rules see that raw value (so
// "card_seconds_since_prev < 10" also matches a first transaction; guard it
// with "card_seconds_since_prev >= 0 and ..."), while the default model
// declares it none_if_negative, which makes it contribute nothing.
package model

import (
	"context"
	"errors"
	"math"

	"github.com/fraudscore/scorer/fraud"
)

// Input is what scoring sees for one transaction.
type Input struct {
	Tx       *fraud.Transaction
	Features fraud.Features // velocity features, e.g. card_tx_count_1m (names from DESIGN.md)
}

// Contribution is one feature's share of a model score, in logit units.
type Contribution struct {
	Feature       string
	Value         float64
	Code, Message string
}

// Prediction is a model's answer.
type Prediction struct {
	// Score is the fraud probability in [0,1].
	Score float64
	// Contributions are sorted by Value, largest first.
	Contributions []Contribution
	// NumReasons is how many leading Contributions are worth telling the
	// caller as reasons (for Logistic: Value above reason_min_contribution,
	// at most max_reasons).
	NumReasons int
	// Degraded is true when the answer came from a fallback model (see
	// WithFallback); the Engine then reports its Output as degraded.
	Degraded bool

	// Set by this package's models for the Engine: the version of the
	// model that answered when it is not Model.Version() (a Remote's per
	// answer, a fallback's), why the answer is degraded, and the
	// thresholds to decide it with when not the Model's (Review 0: none).
	version    string
	cause      error
	thresholds Thresholds
}

// Model predicts a fraud probability. Predict must return promptly with
// ctx.Err() (or an error wrapping it) once ctx is done.
type Model interface {
	Predict(ctx context.Context, in Input) (Prediction, error)
	Version() string
}

// Thresholds turn a model score into a decision.
type Thresholds struct {
	Review  float64 `json:"review"`
	Decline float64 `json:"decline"`
}

// Thresholder is implemented by models that carry their own thresholds
// (scores are only comparable to the thresholds they were calibrated with).
// The Engine uses review 0.5 and decline 0.85 for a Model that does not.
type Thresholder interface {
	Thresholds() Thresholds
}

// Decide returns decline when score >= t.Decline, review when score >=
// t.Review, and approve otherwise.
func (t Thresholds) Decide(score float64) fraud.Decision {
	switch {
	case score >= t.Decline:
		return fraud.Decline
	case score >= t.Review:
		return fraud.Review
	default:
		return fraud.Approve
	}
}

func (t Thresholds) validate() error {
	if !(t.Review > 0 && t.Review <= t.Decline && t.Decline <= 1) {
		return errors.New("thresholds: want 0 < review <= decline <= 1")
	}
	return nil
}

// TransactionVariables lists the variable names rules and models may use
// besides the velocity features. "amount" is the amount in minor units.
func TransactionVariables() []string {
	return []string{"amount"}
}

// variable reads one named value from an Input without maps or allocation.
type variable struct {
	name   string
	amount bool
	hint   int // likely index in Input.Features, -1 when unknown
}

func newVariable(name string) variable {
	return variable{name: name, amount: name == "amount", hint: featureHint(name)}
}

// value returns the variable's value and whether it was present.
func (v *variable) value(in *Input) (float64, bool) {
	if v.amount {
		if in.Tx == nil {
			return 0, false
		}
		return float64(in.Tx.Amount), true
	}
	f := in.Features
	if uint(v.hint) < uint(len(f)) && f[v.hint].Name == v.name {
		return f[v.hint].Value, true
	}
	for i := range f {
		if f[i].Name == v.name {
			return f[i].Value, true
		}
	}
	return 0, false
}

// featureHint is the position of a default velocity feature in DESIGN.md
// order, which is the order the velocity package is expected to emit. A
// wrong guess only costs a linear scan.
func featureHint(name string) int {
	switch name {
	case "card_tx_count_1m":
		return 0
	case "card_tx_count_5m":
		return 1
	case "card_tx_count_1h":
		return 2
	case "card_tx_count_24h":
		return 3
	case "card_amount_sum_1h":
		return 4
	case "card_amount_sum_24h":
		return 5
	case "card_failed_count_10m":
		return 6
	case "card_distinct_merchants_1h":
		return 7
	case "card_seconds_since_prev":
		return 8
	}
	return -1
}

func finite(x float64) bool { return !math.IsNaN(x) && !math.IsInf(x, 0) }

// validCode reports whether s is a stable reason code: [A-Z0-9_]+.
func validCode(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
