package model

import (
	"bytes"
	"cmp"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/fraudscore/scorer/fraud"
	"go.yaml.in/yaml/v3"
)

//go:embed default_rules.yaml
var defaultRulesYAML []byte

// Rules is a parsed, validated set of rules. It is immutable and safe for
// concurrent use.
//
// A rule file (YAML, or JSON of the same structure) looks like:
//
//	version: rules-1
//	rules:
//	  - code: CARD_FAILURES_10M        # stable, [A-Z0-9_]+
//	    message: "3 or more failed or declined attempts on this card in 10 minutes"
//	    when: "card_failed_count_10m >= 3"   # <variable> <op> <number>, joined by " and "
//	    decision: review               # review or decline
//	    score: 0.7                     # in [0,1]
//
// Operators are >=, >, <=, <, == and !=. A variable missing from the input
// reads as 0.
type Rules struct {
	version string
	rules   []rule // by severity, then score, descending; file order among equals
}

type rule struct {
	code, message string
	decision      fraud.Decision
	score         float64
	when          []condition
}

type condition struct {
	v  variable
	op op
	x  float64
}

type op uint8

const (
	opGE op = iota
	opGT
	opLE
	opLT
	opEQ
	opNE
)

func parseOp(s string) op {
	switch s {
	case ">=":
		return opGE
	case ">":
		return opGT
	case "<=":
		return opLE
	case "<":
		return opLT
	case "==":
		return opEQ
	default:
		return opNE
	}
}

type rulesSpec struct {
	Version string     `yaml:"version" json:"version"`
	Rules   []ruleSpec `yaml:"rules" json:"rules"`
}

type ruleSpec struct {
	Code     string   `yaml:"code" json:"code"`
	Message  string   `yaml:"message" json:"message"`
	When     string   `yaml:"when" json:"when"`
	Decision string   `yaml:"decision" json:"decision"`
	Score    *float64 `yaml:"score" json:"score"`
}

var (
	andRE    = regexp.MustCompile(`\s+and\s+`)
	clauseRE = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(>=|<=|==|!=|>|<)\s*(\S+)$`)
)

// LoadRules reads rules from a YAML or JSON file; see ParseRules.
func LoadRules(path string, known []string) (*Rules, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load rules: %w", err)
	}
	r, err := ParseRules(data, known)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// ParseRules decodes and validates rules. data is JSON when its first
// non-space character is '{', else YAML. Variables must be in known (the
// velocity feature names) or in TransactionVariables. Unknown fields,
// unknown variables and malformed conditions are errors naming the rule by
// index and code; every invalid rule is reported (errors.Join).
func ParseRules(data []byte, known []string) (*Rules, error) {
	var spec rulesSpec
	if err := decodeRules(data, &spec); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	var errs []error
	if spec.Version == "" {
		errs = append(errs, errors.New("version is required"))
	}
	r := &Rules{version: spec.Version, rules: make([]rule, 0, len(spec.Rules))}
	for i := range spec.Rules {
		rl, err := spec.Rules[i].build(known)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules[%d] %s: %w", i, spec.Rules[i].Code, err))
			continue
		}
		r.rules = append(r.rules, rl)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules %s: %w", spec.Version, errors.Join(errs...))
	}
	slices.SortStableFunc(r.rules, func(a, b rule) int {
		if c := cmp.Compare(b.decision.Severity(), a.decision.Severity()); c != 0 {
			return c
		}
		return cmp.Compare(b.score, a.score)
	})
	return r, nil
}

// DefaultRules returns the embedded default rules (default_rules.yaml),
// checked against known.
func DefaultRules(known []string) (*Rules, error) {
	return ParseRules(defaultRulesYAML, known)
}

func decodeRules(data []byte, spec *rulesSpec) error {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '{' {
		return decodeStrict(t, spec)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(spec); err != nil {
		if err == io.EOF {
			return errors.New("empty document")
		}
		return err
	}
	return nil
}

func (s *ruleSpec) build(known []string) (rule, error) {
	var errs []error
	if !validCode(s.Code) {
		errs = append(errs, errors.New("code must be upper-case [A-Z0-9_]+"))
	}
	if strings.TrimSpace(s.Message) == "" {
		errs = append(errs, errors.New("message is required"))
	}
	d := fraud.Decision(s.Decision)
	switch d {
	case fraud.Review, fraud.Decline:
	case fraud.Approve:
		errs = append(errs, errors.New("decision approve has no effect: rules can only raise a decision (want review or decline)"))
	default:
		errs = append(errs, fmt.Errorf("decision %q: want review or decline", s.Decision))
	}
	var score float64
	switch {
	case s.Score == nil:
		errs = append(errs, errors.New("score is required"))
	case !(*s.Score >= 0 && *s.Score <= 1):
		errs = append(errs, fmt.Errorf("score %v: want a number in [0,1]", *s.Score))
	default:
		score = *s.Score
	}
	when, err := parseWhen(s.When, known)
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return rule{}, errors.Join(errs...)
	}
	return rule{code: s.Code, message: s.Message, decision: d, score: score, when: when}, nil
}

// parseWhen parses a conjunction of comparisons.
func parseWhen(when string, known []string) ([]condition, error) {
	when = strings.TrimSpace(when)
	if when == "" {
		return nil, errors.New("when is required")
	}
	var out []condition
	for i, clause := range andRE.Split(when, -1) {
		m := clauseRE.FindStringSubmatch(strings.TrimSpace(clause))
		if m == nil {
			hint := ""
			if strings.Contains(clause, " or ") || strings.Contains(clause, "||") || strings.Contains(clause, "&&") {
				hint = "; only comparisons joined by lower-case \" and \" are supported"
			}
			return nil, fmt.Errorf("when: clause %d %q: want <variable> <op> <number> with op one of >= > <= < == !=%s", i+1, clause, hint)
		}
		name, opText, num := m[1], m[2], m[3]
		if !slices.Contains(known, name) && !slices.Contains(TransactionVariables(), name) {
			return nil, fmt.Errorf("when: clause %d %q: unknown variable %q", i+1, clause, name)
		}
		x, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("when: clause %d %q: %q is not a finite number", i+1, clause, num)
		}
		out = append(out, condition{v: newVariable(name), op: parseOp(opText), x: x})
	}
	return out, nil
}

// Version returns the rules' version string.
func (r *Rules) Version() string { return r.version }

// Len returns the number of rules.
func (r *Rules) Len() int { return len(r.rules) }

// CheckThresholds returns an error naming each rule whose score is below the
// threshold of its own decision, so that a result would carry a decision its
// score does not support (e.g. decline with score 0.6 when decline is 0.85).
func (r *Rules) CheckThresholds(t Thresholds) error {
	var errs []error
	for _, rl := range r.rules {
		floor := t.Review
		if rl.decision == fraud.Decline {
			floor = t.Decline
		}
		if rl.score < floor {
			errs = append(errs, fmt.Errorf("rules %s: rule %s: score %v is below the %s threshold %v", r.version, rl.code, rl.score, rl.decision, floor))
		}
	}
	return errors.Join(errs...)
}

// Codes returns the rules' reason codes, in order.
func (r *Rules) Codes() []string {
	out := make([]string, len(r.rules))
	for i := range r.rules {
		out[i] = r.rules[i].code
	}
	return out
}

// Ceiling returns the highest thresholds these rules allow: the lowest
// score of a rule for each decision (1 where no rule makes it). A model
// whose thresholds are above them fails CheckThresholds.
func (r *Rules) Ceiling() Thresholds {
	c := Thresholds{Review: 1, Decline: 1}
	for _, rl := range r.rules {
		if rl.decision == fraud.Decline {
			c.Decline = min(c.Decline, rl.score)
		} else {
			c.Review = min(c.Review, rl.score)
		}
	}
	return c
}

// match appends the indexes of the rules matching in to dst.
func (r *Rules) match(in *Input, dst []int32) []int32 {
	for i := range r.rules {
		if r.rules[i].matches(in) {
			dst = append(dst, int32(i))
		}
	}
	return dst
}

func (rl *rule) matches(in *Input) bool {
	for i := range rl.when {
		if !rl.when[i].holds(in) {
			return false
		}
	}
	return true
}

func (c *condition) holds(in *Input) bool {
	v, _ := c.v.value(in) // missing reads as 0
	switch c.op {
	case opGE:
		return v >= c.x
	case opGT:
		return v > c.x
	case opLE:
		return v <= c.x
	case opLT:
		return v < c.x
	case opEQ:
		return v == c.x
	default:
		return v != c.x
	}
}
