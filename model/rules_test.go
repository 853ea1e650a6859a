package model

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/fraudscore/scorer/fraud"
)

const goodYAML = `
version: rules-test
rules:
  - code: CARD_FAILURES_10M
    message: "3 or more failed or declined attempts on this card in 10 minutes"
    when: "card_failed_count_10m >= 3"
    decision: review
    score: 0.7
  - code: BIG_BURST
    message: "burst of large payments"
    when: "card_tx_count_1m>5 and amount >= 100000"
    decision: decline
    score: 0.9
`

const goodJSON = `{
  "version": "rules-test",
  "rules": [
    {"code": "CARD_FAILURES_10M", "message": "3 or more failed or declined attempts on this card in 10 minutes",
     "when": "card_failed_count_10m >= 3", "decision": "review", "score": 0.7},
    {"code": "BIG_BURST", "message": "burst of large payments",
     "when": "card_tx_count_1m>5 and amount >= 100000", "decision": "decline", "score": 0.9}
  ]
}`

func TestParseRules(t *testing.T) {
	tests := []struct {
		name string
		give string
	}{
		{"YAML", goodYAML},
		{"JSON", goodJSON},
		{"JSON with leading space and BOM", "\xef\xbb\xbf \n" + goodJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name+" parses and orders rules by severity", func(t *testing.T) {
			r := mustRules(t, tt.give)
			if got, want := r.Version(), "rules-test"; got != want {
				t.Errorf("Version() = %q, want %q", got, want)
			}
			if got, want := r.Len(), 2; got != want {
				t.Errorf("Len() = %d, want %d", got, want)
			}
			e := NewEngine(r, nil, Options{})
			v := quiet(0)
			v.n1m, v.failed10m = 6, 3
			out := e.Score(context.Background(), input(100000, v))
			if got, want := codes(out.Reasons), []string{"BIG_BURST", "CARD_FAILURES_10M"}; !slices.Equal(got, want) {
				t.Errorf("reasons = %v, want %v", got, want)
			}
			if got, want := out.Decision, fraud.Decline; got != want {
				t.Errorf("decision = %v, want %v", got, want)
			}
		})
	}
}

func TestParseRulesErrors(t *testing.T) {
	rule := func(fields string) string {
		return "version: v1\nrules:\n  - " + strings.ReplaceAll(strings.TrimSpace(fields), "\n", "\n    ") + "\n"
	}
	const ok = `code: X
message: m
when: "amount > 1"
decision: review
score: 0.6`
	with := func(old, new string) string { return rule(strings.Replace(ok, old, new, 1)) }
	tests := []struct {
		name string
		give string
		want []string // substrings of the error
	}{
		{"malformed YAML", "version: [", []string{"rules:"}},
		{"empty document", "  \n", []string{"empty document"}},
		{"unknown field", rule(ok + "\ndecison: review"), []string{"decison"}},
		{"missing version", strings.Replace(rule(ok), "version: v1", "version: ''", 1), []string{"version is required"}},
		{"lower-case code", with("code: X", "code: card_x"), []string{"rules[0] card_x", "code must be upper-case"}},
		{"missing code", with("code: X", "code: ''"), []string{"rules[0]", "code must be upper-case"}},
		{"missing message", with("message: m", "message: ' '"), []string{"rules[0] X", "message is required"}},
		{"unknown decision", with("decision: review", "decision: block"), []string{`decision "block"`}},
		{"approve decision", with("decision: review", "decision: approve"), []string{"can only raise"}},
		{"missing score", with("score: 0.6", ""), []string{"score is required"}},
		{"score above 1", with("score: 0.6", "score: 1.5"), []string{"score 1.5", "[0,1]"}},
		{"negative score", with("score: 0.6", "score: -0.1"), []string{"[0,1]"}},
		{"empty when", with(`when: "amount > 1"`, `when: ""`), []string{"when is required"}},
		{"unknown variable", with(`amount > 1`, `card_tx_count_2m > 1`), []string{`unknown variable "card_tx_count_2m"`}},
		{"unknown operator", with(`amount > 1`, `amount => 1`), []string{"clause 1", "want <variable> <op> <number>"}},
		{"missing number", with(`amount > 1`, `amount >`), []string{"want <variable> <op> <number>"}},
		{"not a number", with(`amount > 1`, `amount > five`), []string{`"five" is not a finite number`}},
		{"infinite number", with(`amount > 1`, `amount > Inf`), []string{"not a finite number"}},
		{"or is not supported", with(`amount > 1`, `amount > 1 or amount < 0`), []string{`only comparisons joined by lower-case " and "`}},
		{"error names the second clause", with(`amount > 1`, `amount > 1 and card_tx_count_1m >< 2`), []string{"clause 2"}},
		{"JSON unknown field", `{"version":"v1","rules":[],"extra":1}`, []string{"extra"}},
		{"JSON trailing data", `{"version":"v1","rules":[]} {}`, []string{"after the JSON object"}},
		{"every bad rule is reported", `
version: v1
rules:
  - {code: X, message: m, when: "amount > 1", decision: review, score: 0.6}
  - {code: Y, message: m, when: "amount > 1", decision: review, score: 2}
  - {code: z, message: m, when: "amount > 1", decision: review, score: 0.6}
`, []string{"rules[1] Y", "rules[2] z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseRules([]byte(tt.give), known)
			if err == nil {
				t.Fatalf("ParseRules(%q) = nil error, want one containing %q", tt.give, tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestParseRulesAcceptsEmptyRuleList(t *testing.T) {
	r := mustRules(t, "version: none\nrules: []\n")
	out := NewEngine(r, nil, Options{}).Score(context.Background(), input(1, quiet(1)))
	if out.Decision != fraud.Approve || out.Score != 0 || len(out.Reasons) != 0 {
		t.Errorf("got %+v, want approve with score 0 and no reasons", out)
	}
}

func TestConditionOperators(t *testing.T) {
	tests := []struct {
		give  string  // when
		value float64 // of card_tx_count_1h
		want  bool
	}{
		{"card_tx_count_1h >= 3", 3, true},
		{"card_tx_count_1h >= 3", 2, false},
		{"card_tx_count_1h > 3", 3, false},
		{"card_tx_count_1h > 3", 4, true},
		{"card_tx_count_1h <= 3", 3, true},
		{"card_tx_count_1h <= 3", 4, false},
		{"card_tx_count_1h < 3", 3, false},
		{"card_tx_count_1h < 3", 2, true},
		{"card_tx_count_1h == 3", 3, true},
		{"card_tx_count_1h == 3", 2.5, false},
		{"card_tx_count_1h != 3", 3, false},
		{"card_tx_count_1h != 3", 2, true},
		{"card_tx_count_1h>=1e0", 1, true},
		{"card_tx_count_1h >= 2   and   card_tx_count_1h < 4", 3, true},
		{"card_tx_count_1h >= 2 and card_tx_count_1h < 4", 4, false},
		{"card_seconds_since_prev > -2", 0, true},
	}
	for _, tt := range tests {
		name := tt.give + " is false"
		if tt.want {
			name = tt.give + " is true"
		}
		t.Run(name, func(t *testing.T) {
			r := mustRules(t, `{"version":"v","rules":[{"code":"C","message":"m","decision":"review","score":0.5,"when":"`+tt.give+`"}]}`)
			in := Input{Features: fraud.Features{{Name: "card_tx_count_1h", Value: tt.value}}}
			var buf [4]int32
			if got := len(r.match(&in, buf[:0])) == 1; got != tt.want {
				t.Errorf("value %v: got %v, want %v", tt.value, got, tt.want)
			}
		})
	}
}

func TestMissingVariableReadsAsZero(t *testing.T) {
	r := mustRules(t, `{"version":"v","rules":[{"code":"C","message":"m","decision":"review","score":0.5,"when":"card_tx_count_1h == 0 and amount == 0"}]}`)
	var buf [4]int32
	if got := r.match(&Input{}, buf[:0]); len(got) != 1 {
		t.Errorf("rule on missing variables did not match an empty input")
	}
}

func TestDefaultRulesFireAtTheirEdges(t *testing.T) {
	tests := []struct {
		name         string
		give         vel
		amount       int64
		want         []string
		wantDecision fraud.Decision
	}{
		{"ordinary purchase matches nothing", quiet(2000), 2000, []string{}, fraud.Approve},
		{"2 failures in 10m is not enough", vel{n1m: 1, failed10m: 2}, 2000, []string{}, fraud.Approve},
		{"3 failures in 10m is reviewed", vel{n1m: 1, failed10m: 3}, 2000, []string{"CARD_FAILURES_10M"}, fraud.Review},
		{"4 transactions in a minute is not enough", vel{n1m: 4}, 2000, []string{}, fraud.Approve},
		{"5 transactions in a minute is reviewed", vel{n1m: 5}, 2000, []string{"CARD_VELOCITY_1M"}, fraud.Review},
		{"4,999.99 is not a high amount", quiet(499999), 499999, []string{}, fraud.Approve},
		{"5,000.00 is a high amount", quiet(500000), 500000, []string{"HIGH_AMOUNT"}, fraud.Review},
		{"card testing needs 10 in a minute", vel{n1m: 9, failed10m: 5}, 100, []string{"CARD_FAILURES_10M", "CARD_VELOCITY_1M"}, fraud.Review},
		{"card testing needs 5 failures", vel{n1m: 10, failed10m: 4}, 100, []string{"CARD_FAILURES_10M", "CARD_VELOCITY_1M"}, fraud.Review},
		{"card testing is declined", vel{n1m: 10, failed10m: 5}, 100, []string{"CARD_TESTING", "CARD_FAILURES_10M", "CARD_VELOCITY_1M"}, fraud.Decline},
	}
	e := NewEngine(defaultRules(t), nil, Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := e.Score(context.Background(), input(tt.amount, tt.give))
			if got := codes(out.Reasons); !slices.Equal(got, tt.want) {
				t.Errorf("reasons = %v, want %v", got, tt.want)
			}
			if out.Decision != tt.wantDecision {
				t.Errorf("decision = %v, want %v", out.Decision, tt.wantDecision)
			}
		})
	}
}

func TestDefaultsAgree(t *testing.T) {
	r, l := defaultRules(t), DefaultLogistic()
	if err := r.CheckThresholds(l.Thresholds()); err != nil {
		t.Errorf("default rules against default thresholds: %v", err)
	}
	if err := l.CheckVariables(known); err != nil {
		t.Errorf("default model variables: %v", err)
	}
	for _, rl := range r.rules {
		if !validCode(rl.code) {
			t.Errorf("default rule code %q is not [A-Z0-9_]+", rl.code)
		}
	}
}

func TestCheckThresholdsNamesInconsistentRule(t *testing.T) {
	r := mustRules(t, `{"version":"v","rules":[{"code":"LOW_DECLINE","message":"m","decision":"decline","score":0.6,"when":"amount > 1"}]}`)
	err := r.CheckThresholds(Thresholds{Review: 0.5, Decline: 0.85})
	if err == nil || !strings.Contains(err.Error(), "LOW_DECLINE") {
		t.Errorf("CheckThresholds = %v, want an error naming LOW_DECLINE", err)
	}
}

func TestLoadRules(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string]string{"rules.yaml": goodYAML, "rules.json": goodJSON} {
		t.Run("reads "+name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
				t.Fatal(err)
			}
			r, err := LoadRules(path, known)
			if err != nil {
				t.Fatalf("LoadRules: %v", err)
			}
			if r.Len() != 2 {
				t.Errorf("Len() = %d, want 2", r.Len())
			}
		})
	}
	t.Run("missing file is an error", func(t *testing.T) {
		if _, err := LoadRules(filepath.Join(dir, "nope.yaml"), known); err == nil {
			t.Error("LoadRules of a missing file succeeded")
		}
	})
	t.Run("error names the file", func(t *testing.T) {
		path := filepath.Join(dir, "bad.yaml")
		os.WriteFile(path, []byte("version: v\nrules:\n  - code: x\n"), 0o600)
		_, err := LoadRules(path, known)
		if err == nil || !strings.Contains(err.Error(), path) {
			t.Errorf("LoadRules = %v, want an error naming %s", err, path)
		}
	})
}
