package model

import (
	"fmt"
	"slices"
)

// Local is a model that runs in this process, with its own thresholds and
// the variables it reads (a file of any kind LoadAny reads).
type Local interface {
	Model
	Thresholder
	CheckVariables(known []string) error
}

// Files name the rules and model files of an engine; empty means the
// embedded default.
type Files struct {
	Rules string
	Model string
}

// Load reads and checks the rules and the local model of f against the
// features (names): each rule and model variable must be a feature or a
// transaction variable, no feature may take a transaction variable's name,
// and each rule's score must reach its decision's threshold in the model.
// The service, its reloads, scorer evaluate and scorer backtest all
// assemble their engines through it.
func Load(f Files, features []string) (*Rules, Local, error) {
	for _, n := range features {
		if slices.Contains(TransactionVariables(), n) {
			return nil, nil, fmt.Errorf("features: %q is a transaction variable rules and models already read; name the feature otherwise", n)
		}
	}
	known := append(slices.Clone(features), TransactionVariables()...)
	var (
		rules *Rules
		err   error
	)
	if f.Rules != "" {
		rules, err = LoadRules(f.Rules, known)
	} else {
		rules, err = DefaultRules(known)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("rules: %w", err)
	}
	m, err := loadLocal(f.Model)
	if err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	if err := m.CheckVariables(known); err != nil {
		return nil, nil, fmt.Errorf("model: %w", err)
	}
	if err := rules.CheckThresholds(m.Thresholds()); err != nil {
		return nil, nil, fmt.Errorf("rules: %w", err)
	}
	return rules, m, nil
}

// LoadEngine is Load's rules and model in an Engine.
func LoadEngine(f Files, features []string) (*Engine, error) {
	rules, m, err := Load(f, features)
	if err != nil {
		return nil, err
	}
	return NewEngine(rules, m, Options{}), nil
}

// loadLocal reads a model file; the embedded default when path is empty.
func loadLocal(path string) (Local, error) {
	if path == "" {
		return Default(), nil
	}
	m, err := LoadAny(path)
	if err != nil {
		return nil, err
	}
	lm, ok := m.(Local)
	if !ok {
		return nil, fmt.Errorf("%s: a %T cannot be checked against the features", path, m)
	}
	return lm, nil
}
