package gbt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// Format and FormatVersion name the JSON layout Save writes. A change that
// an older reader would misread gets a new FormatVersion.
const (
	Format        = "gbt"
	FormatVersion = 1
)

// fileModel is the saved form of a Model:
//
//	{"format": "gbt", "format_version": 1, "objective": "binary:logistic",
//	 "features": ["a", "b"], "base_margin": -2.1,
//	 "trees": [{"nodes": [{"feature": 0, "threshold": 0.5, "default_left": true,
//	                       "left": 1, "right": 2, "value": 0, "gain": 3.2, "cover": 10},
//	                      {"feature": -1, "left": -1, "right": -1, "value": -0.1, "cover": 6}, ...]}],
//	 "meta": {...}}
//
// base_margin is in log-odds (XGBoost's base_score is a probability; the
// different name avoids mixing them up).
type fileModel struct {
	Format        string         `json:"format"`
	FormatVersion int            `json:"format_version"`
	Objective     string         `json:"objective"`
	Features      []string       `json:"features"`
	BaseMargin    *float64       `json:"base_margin"`
	Trees         []Tree         `json:"trees"`
	Meta          map[string]any `json:"meta,omitempty"`
}

// MarshalJSON writes the model in the saved format.
func (m *Model) MarshalJSON() ([]byte, error) {
	b := m.BaseMargin
	return json.Marshal(fileModel{
		Format: Format, FormatVersion: FormatVersion, Objective: "binary:logistic",
		Features: m.Features, BaseMargin: &b, Trees: m.Trees, Meta: m.Meta,
	})
}

// UnmarshalJSON reads and validates a saved model (see Parse).
func (m *Model) UnmarshalJSON(data []byte) error {
	var f fileModel
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return fmt.Errorf("gbt model: %w", err)
	}
	if f.Format != Format {
		return fmt.Errorf("gbt model: format is %q, want %q", f.Format, Format)
	}
	if f.FormatVersion != FormatVersion {
		return fmt.Errorf("gbt model: format_version %d is not supported (want %d)", f.FormatVersion, FormatVersion)
	}
	if f.Objective != "binary:logistic" {
		return fmt.Errorf("gbt model: objective %q is not supported", f.Objective)
	}
	if f.BaseMargin == nil {
		return errors.New("gbt model: base_margin is required")
	}
	nm, err := NewModel(f.Features, *f.BaseMargin, f.Trees)
	if err != nil {
		return err
	}
	nm.Meta = f.Meta
	*m = *nm
	return nil
}

// Parse decodes and validates a saved model. A malformed or inconsistent
// file (unknown fields, child indexes out of range or pointing backwards,
// non-finite numbers, features out of range) is an error, never a panic.
func Parse(data []byte) (*Model, error) {
	var m Model
	dec := json.NewDecoder(bytes.NewReader(data))
	var raw json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("gbt model: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("gbt model: unexpected data after the JSON object")
	}
	if err := m.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	return &m, nil
}

// Load reads a model saved by Save.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// Save writes the model to path as JSON, through a temporary file renamed
// into place so that a reader never sees half a model.
func (m *Model) Save(path string) error {
	data, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
