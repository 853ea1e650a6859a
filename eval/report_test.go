package eval

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

const testPAN = "4111111111111111"

func sampleReport(t *testing.T) *Report {
	t.Helper()
	rng := rand.New(rand.NewPCG(21, 22))
	n := 5000
	scores := make([]float64, n)
	labels := make([]bool, n)
	for i := range scores {
		labels[i] = rng.Float64() < 0.05
		x := rng.NormFloat64()
		if labels[i] {
			x += 2
		}
		scores[i] = 1 / (1 + math.Exp(-(1.5*x - 3)))
	}
	r, err := Evaluate(scores, labels, Options{
		Title:            "logreg-7 on valid " + testPAN,
		Thresholds:       []NamedThreshold{{"review", 0.5}, {"decline", 0.85}},
		PrecisionTargets: []float64{0.5, 1},
		ReasonCounts:     map[string]int{"CARD_VELOCITY_1M": 40, "HIGH_AMOUNT": 75, "X" + testPAN: 1},
		CurvePoints:      100,
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEvaluate(t *testing.T) {
	r := sampleReport(t)
	t.Run("alert rates default to 0.1%, 0.5% and 1%", func(t *testing.T) {
		if len(r.AlertRates) != 3 || r.AlertRates[0].Rate != 0.001 || r.AlertRates[1].Rate != 0.005 || r.AlertRates[2].Rate != 0.01 {
			t.Errorf("alert rates %+v", r.AlertRates)
		}
	})
	t.Run("thresholds and precision targets in the given order", func(t *testing.T) {
		if len(r.Thresholds) != 2 || r.Thresholds[0].Name != "review" || r.Thresholds[1].Threshold != 0.85 {
			t.Errorf("thresholds %+v", r.Thresholds)
		}
		if len(r.PrecisionTargets) != 2 || !r.PrecisionTargets[0].Found || r.PrecisionTargets[0].Precision < 0.5 {
			t.Errorf("precision targets %+v", r.PrecisionTargets)
		}
	})
	t.Run("curves within the asked points, histogram of every row", func(t *testing.T) {
		if len(r.ROC) > 100 || len(r.PR) > 100 {
			t.Errorf("%d ROC and %d PR points", len(r.ROC), len(r.PR))
		}
		var pos, all int
		for i := range r.Histogram.Positives {
			pos += r.Histogram.Positives[i]
			all += r.Histogram.Positives[i] + r.Histogram.Negatives[i]
		}
		if pos != r.Positives || all != r.Rows {
			t.Errorf("histogram holds %d positives of %d rows, want %d of %d", pos, all, r.Positives, r.Rows)
		}
	})
	t.Run("reason counts carried as given", func(t *testing.T) {
		if len(r.ReasonCounts) != 3 || r.ReasonCounts["HIGH_AMOUNT"] != 75 {
			t.Errorf("reason counts %v", r.ReasonCounts)
		}
	})
}

func TestEvaluateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		scores []float64
		labels []bool
		opts   Options
		want   string
	}{
		{"lengths differ", []float64{0.1}, []bool{true, false}, Options{}, "1 scores but 2 labels"},
		{"a NaN score", []float64{0.1, math.NaN()}, []bool{true, false}, Options{}, "row 1 is not finite"},
		{"one class only", []float64{0.1, 0.2}, []bool{false, false}, Options{}, "need both classes"},
		{"an alert rate of 0", []float64{0.1, 0.2}, []bool{true, false}, Options{AlertRates: []float64{0}}, "alert rate 0"},
		{"a precision target above 1", []float64{0.1, 0.2}, []bool{true, false}, Options{PrecisionTargets: []float64{2}}, "precision target 2"},
		{"an infinite threshold", []float64{0.1, 0.2}, []bool{true, false}, Options{Thresholds: []NamedThreshold{{"review", math.Inf(1)}}}, "threshold review"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(tc.scores, tc.labels, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestWriteJSON(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	t.Run("reads back as the report", func(t *testing.T) {
		var back Report
		if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
			t.Fatal(err)
		}
		if back.ROCAUC != r.ROCAUC || back.AveragePrecision != r.AveragePrecision || len(back.PR) != len(r.PR) ||
			back.AlertRates[1] != r.AlertRates[1] || back.Thresholds[0] != r.Thresholds[0] {
			t.Errorf("read back %+v", back)
		}
	})
	t.Run("operating points are flat objects", func(t *testing.T) {
		if !strings.Contains(buf.String(), `"name": "review",`+"\n      \"threshold\": 0.5,") {
			t.Errorf("thresholds not flat:\n%s", buf.String())
		}
	})
	t.Run("no card number", func(t *testing.T) { noPAN(t, buf.String()) })
}

func TestWriteText(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	t.Run("has every section", func(t *testing.T) {
		for _, want := range []string{"ROC AUC", "average precision", "At alert rates", "At thresholds", "review", "decline",
			"Lowest threshold reaching a precision", "Score distribution", "[0.95, 1.00]", "Reason codes"} {
			if !strings.Contains(out, want) {
				t.Errorf("no %q in\n%s", want, out)
			}
		}
	})
	t.Run("reason codes by count, largest first", func(t *testing.T) {
		if i, j := strings.Index(out, "HIGH_AMOUNT"), strings.Index(out, "CARD_VELOCITY_1M"); i < 0 || j < 0 || i > j {
			t.Errorf("order wrong in\n%s", out)
		}
	})
	t.Run("no card number", func(t *testing.T) { noPAN(t, out) })
	t.Run("a write error is returned", func(t *testing.T) {
		if err := r.WriteText(failWriter{}); err == nil {
			t.Error("no error")
		}
	})
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFail }

var errFail = errors.New("write failed")

func TestWriteHTML(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := r.WriteHTML(&buf); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	t.Run("two inline SVG charts", func(t *testing.T) {
		if n, m := strings.Count(page, "<svg"), strings.Count(page, "</svg>"); n != 2 || m != 2 {
			t.Errorf("%d <svg and %d </svg>", n, m)
		}
		if strings.Contains(page, "<?xml") {
			t.Error("an XML prolog inside the HTML")
		}
	})
	t.Run("no external references", func(t *testing.T) {
		// Namespace names (xmlns="http://...") are identifiers, not loads.
		for _, re := range []string{`(?i)\bsrc\s*=`, `(?i)\bhref\s*=`, `(?i)url\(`, `(?i)@import`, `(?i)<link\b`, `(?i)<script\b`, `(?i)<img\b`, `(?i)<iframe\b`} {
			if loc := regexp.MustCompile(re).FindStringIndex(page); loc != nil {
				t.Errorf("%s at %q", re, page[max(0, loc[0]-40):min(len(page), loc[1]+40)])
			}
		}
		rest := regexp.MustCompile(`xmlns(:\w+)?="[^"]*"`).ReplaceAllString(page, "")
		if loc := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]`).FindStringIndex(rest); loc != nil {
			t.Errorf("a URL outside a namespace declaration: %q", rest[max(0, loc[0]-40):min(len(rest), loc[1]+40)])
		}
	})
	t.Run("tables of every section", func(t *testing.T) {
		for _, want := range []string{"At alert rates", "At thresholds", "Score distribution", "Reason codes", "HIGH_AMOUNT", "decline"} {
			if !strings.Contains(page, want) {
				t.Errorf("no %q", want)
			}
		}
	})
	t.Run("no card number", func(t *testing.T) { noPAN(t, page) })
	t.Run("the same report gives the same page", func(t *testing.T) {
		var again bytes.Buffer
		if err := r.WriteHTML(&again); err != nil {
			t.Fatal(err)
		}
		if again.String() != page {
			t.Error("pages differ")
		}
	})
}

func noPAN(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, testPAN) {
		t.Errorf("card number in output")
	}
}
