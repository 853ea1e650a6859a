package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/model"
)

// labelledLog writes a small labelled log with a pattern to learn: a
// stolen card spends large amounts at night, several times within hours.
// Frauds are spread over the whole span, so every time split has some.
func labelledLog(t *testing.T, dir string) (logPath, labelsPath string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(7, 11))
	var log, labels strings.Builder
	labels.WriteString("transaction_id,is_fraud\n")
	start := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	n := 0
	emit := func(card int, at time.Time, amount int, fraud bool) {
		n++
		fmt.Fprintf(&log, `{"transaction_id":"t%05d","card_id":"card_%d","amount":%d,"currency":"USD","merchant_id":"m%d","merchant_category":"grocery_pos","country":"US","channel":"pos","event_time":"%s"}`+"\n",
			n, 1000+card, amount, rng.IntN(50), at.Format(time.RFC3339))
		label := 0
		if fraud {
			label = 1
		}
		fmt.Fprintf(&labels, "t%05d,%d\n", n, label)
	}
	type ev struct {
		card   int
		at     time.Time
		amount int
		fraud  bool
	}
	var evs []ev
	for card := range 60 {
		for at := start.Add(time.Duration(rng.IntN(3600)) * time.Second); at.Before(start.Add(10 * 24 * time.Hour)); at = at.Add(time.Duration(2+rng.IntN(6)) * time.Hour) {
			if h := at.Hour(); h >= 7 && h < 22 {
				evs = append(evs, ev{card, at, 500 + rng.IntN(8000), false})
			}
		}
		if card%3 == 0 { // stolen on day 1 + card/6
			night := start.Add(time.Duration(1+card/6)*24*time.Hour + 23*time.Hour)
			for k := range 4 {
				evs = append(evs, ev{card, night.Add(time.Duration(k*37) * time.Minute), 60000 + rng.IntN(90000), true})
			}
		}
	}
	// In event-time order, as a log is.
	for sorted := false; !sorted; {
		sorted = true
		for i := 1; i < len(evs); i++ {
			if evs[i].at.Before(evs[i-1].at) {
				evs[i], evs[i-1] = evs[i-1], evs[i]
				sorted = false
			}
		}
	}
	for _, e := range evs {
		emit(e.card, e.at, e.amount, e.fraud)
	}
	logPath, labelsPath = filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "labels.csv")
	if err := os.WriteFile(logPath, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(labelsPath, []byte(labels.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return logPath, labelsPath
}

// TestTrainEvaluateBacktest runs the ML engineer's loop as commands:
// backfill a labelled log, train each kind of model on the table, evaluate
// it on the table and by replaying the log through the pipeline (the two
// must agree), and backtest it against the built-in model.
func TestTrainEvaluateBacktest(t *testing.T) {
	dir := t.TempDir()
	logPath, labelsPath := labelledLog(t, dir)
	ctx := context.Background()
	cmd := func(t *testing.T, args ...string) (stdout, stderr string) {
		t.Helper()
		var o, e bytes.Buffer
		if err := run(ctx, args, &o, &e); err != nil {
			t.Fatalf("scorer %s: %v\n%s", strings.Join(args, " "), err, e.String())
		}
		return o.String(), e.String()
	}
	table := filepath.Join(dir, "table.parquet")
	cmd(t, "backfill", "--input", logPath, "--labels", labelsPath, "--out", table)

	for _, kind := range []string{"gbt", "logistic"} {
		t.Run(kind, func(t *testing.T) {
			modelPath := filepath.Join(dir, kind+".json")
			html := filepath.Join(dir, kind+"-valid.html")
			out, _ := cmd(t, "train", "--table", table, "--out", modelPath, "--kind", kind, "--version", kind+"-test-1",
				"--trees", "30", "--depth", "3", "--target-alert-rate", "0.05", "--report", html)
			if !strings.Contains(out, "model "+kind+"-test-1 ("+kind+") written") || !strings.Contains(out, "ROC AUC") {
				t.Errorf("train output:\n%s", out)
			}
			if b, err := os.ReadFile(html); err != nil || !bytes.Contains(b, []byte("<svg")) {
				t.Errorf("validation report %s: %v, want an HTML page with curves", html, err)
			}
			// The file is what the service loads: with the built-in rules
			// and features, as a reload would check it.
			eng, err := model.LoadEngine(model.Files{Model: modelPath}, features.Default().Names())
			if err != nil {
				t.Fatalf("the trained model does not load as the service loads it: %v", err)
			}
			if eng.Version() != kind+"-test-1" {
				t.Errorf("version %q", eng.Version())
			}

			// Scored from the table and replayed through the pipeline:
			// the same answers, so the same report.
			fromTable := filepath.Join(dir, kind+"-table.json")
			fromLog := filepath.Join(dir, kind+"-log.json")
			textOut, _ := cmd(t, "evaluate", "--model", modelPath, "--table", table, "--report", fromTable)
			_, replayErr := cmd(t, "evaluate", "--model", modelPath, "--log", logPath, "--labels", labelsPath, "--report", fromLog)
			if !strings.Contains(replayErr, "every feature the pipeline answered equals the backfill's") {
				t.Errorf("replay did not confirm the features:\n%s", replayErr)
			}
			a, b := readReport(t, fromTable), readReport(t, fromLog)
			if a.Rows != b.Rows || a.Positives != b.Positives || a.ROCAUC != b.ROCAUC || a.AveragePrecision != b.AveragePrecision {
				t.Errorf("table: %d rows %d frauds AUC %v AP %v; replay: %d rows %d frauds AUC %v AP %v",
					a.Rows, a.Positives, a.ROCAUC, a.AveragePrecision, b.Rows, b.Positives, b.ROCAUC, b.AveragePrecision)
			}
			if a.ROCAUC < 0.95 {
				t.Errorf("ROC AUC %v on the pattern it was trained on, want at least 0.95", a.ROCAUC)
			}
			for _, want := range []string{"ROC AUC", "average precision", "At alert rates", "0.10%", "0.50%", "1.00%", "review", "decline", "Score distribution"} {
				if !strings.Contains(textOut, want) {
					t.Errorf("evaluate output lacks %q:\n%s", want, textOut)
				}
			}

			out, _ = cmd(t, "backtest", "--candidate-model", modelPath, "--table", table)
			if !strings.Contains(out, kind+"-test-1") || !strings.Contains(out, model.Default().Version()) {
				t.Errorf("backtest output names neither model:\n%s", out)
			}
		})
	}
}

type reportHead struct {
	Rows             int     `json:"rows"`
	Positives        int     `json:"positives"`
	ROCAUC           float64 `json:"roc_auc"`
	AveragePrecision float64 `json:"average_precision"`
}

func readReport(t *testing.T, path string) reportHead {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r reportHead
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestTrainRefusesWhatTheServiceCouldNotServe: a column that is no
// feature of the definitions, and flags that contradict each other.
func TestTrainRefusesWhatTheServiceCouldNotServe(t *testing.T) {
	dir := t.TempDir()
	table := filepath.Join(dir, "t.csv")
	if err := os.WriteFile(table, []byte("transaction_id,card_id,event_time,card_tx_count_1m,label\na,c,2024-01-01T00:00:00Z,1,0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--table", table}, "--out is required"},
		{[]string{"--table", table, "--out", filepath.Join(dir, "m.json"), "--kind", "forest"}, `--kind "forest"`},
		{[]string{"--table", table, "--out", filepath.Join(dir, "m.json"), "--model-features", "card_tx_count_1m,shoe_size"}, `"shoe_size" is not a feature`},
		{[]string{"--table", table, "--out", filepath.Join(dir, "m.json"), "--report", filepath.Join(dir, "r.pdf")}, "want a .html or .json file"},
	} {
		var o, e bytes.Buffer
		err := run(context.Background(), append([]string{"train"}, tc.args...), &o, &e)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("train %v: err = %v, want it to say %q", tc.args, err, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "m.json")); !os.IsNotExist(err) {
		t.Error("a refused train wrote a model file")
	}
}

// TestTrainWithOtherFeaturesAndRules: the features and rules given are
// checked against the model being trained, not the built-in one: a table
// of the nine DESIGN.md features trains, and a decline rule scoring 0.1
// caps the decline threshold instead of failing.
func TestTrainWithOtherFeaturesAndRules(t *testing.T) {
	dir := t.TempDir()
	logPath, labelsPath := labelledLog(t, dir)
	nine := filepath.Join(dir, "nine.yaml")
	src, err := os.ReadFile(filepath.Join("..", "..", "features", "default.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// The head of the default file up to card_seconds_since_prev's block.
	head := string(src)
	head = head[:strings.Index(head, "  - name: card_tx_count_7d")]
	if err := os.WriteFile(nine, []byte(head), 0o644); err != nil {
		t.Fatal(err)
	}
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte(`version: rules-low-decline
rules:
  - code: LOW_DECLINE
    message: "a decline rule with a low score"
    when: "amount >= 100000"
    decision: decline
    score: 0.1
`), 0o644); err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(dir, "nine.csv")
	var o, e bytes.Buffer
	ctx := context.Background()
	if err := run(ctx, []string{"backfill", "--input", logPath, "--labels", labelsPath, "--features", nine, "--out", table}, &o, &e); err != nil {
		t.Fatalf("backfill: %v\n%s", err, e.String())
	}
	modelPath := filepath.Join(dir, "m.json")
	o.Reset()
	e.Reset()
	err = run(ctx, []string{"train", "--table", table, "--features", nine, "--rules", rules, "--out", modelPath,
		"--trees", "20", "--depth", "3"}, &o, &e)
	if err != nil {
		t.Fatalf("train with nine features and a low decline rule: %v\n%s", err, e.String())
	}
	nineSet, err := features.Load(nine)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := model.LoadEngine(model.Files{Rules: rules, Model: modelPath}, nineSet.Names()); err != nil {
		t.Fatalf("the model does not load with the rules and features it was trained for: %v", err)
	}
	if !strings.Contains(o.String(), "capped") {
		t.Errorf("train did not say the thresholds were capped:\n%s", o.String())
	}
}
