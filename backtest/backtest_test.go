package backtest

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fraudscore/scorer/features"
	"github.com/fraudscore/scorer/fraud"
	"github.com/fraudscore/scorer/model"
	"github.com/fraudscore/scorer/train"
)

func TestScoreTableAnswersAsTheEngine(t *testing.T) {
	names := features.Default().Names()
	eng, err := model.LoadEngine(model.Files{}, names)
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2019, 3, 1, 12, 0, 0, 0, time.UTC)
	tab := &train.Table{Names: append(slices.Clone(names), "amount")}
	tab.Columns = make([][]float64, len(tab.Names))
	add := func(id string, label bool, velocity1m, amount float64) {
		tab.TransactionID = append(tab.TransactionID, id)
		tab.CardID = append(tab.CardID, "tok_card")
		tab.EventTime = append(tab.EventTime, base.Add(time.Duration(len(tab.TransactionID))*time.Minute).UnixNano())
		tab.Labels = append(tab.Labels, label)
		for k, n := range tab.Names {
			v := 1.0
			switch n {
			case "card_tx_count_1m":
				v = velocity1m
			case "amount":
				v = amount
			case "card_seconds_since_prev":
				v = -1
			}
			tab.Columns[k] = append(tab.Columns[k], v)
		}
	}
	add("quiet", false, 1, 2500)
	add("burst", true, 6, 2500) // CARD_VELOCITY_1M: review
	add("big", true, 1, 900000) // HIGH_AMOUNT: review at least
	rows, err := ScoreTable(context.Background(), eng, tab)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		feats := fraud.Features{}
		for k, n := range tab.Names {
			if n != "amount" {
				feats = append(feats, fraud.Feature{Name: n, Value: tab.Columns[k][i]})
			}
		}
		want := eng.Score(context.Background(), model.Input{Tx: &fraud.Transaction{ID: r.ID, Amount: int64(tab.Columns[len(names)][i])}, Features: feats})
		if r.Score != want.Score || r.Decision != want.Decision {
			t.Errorf("%s: scored %v %s, the engine %v %s", r.ID, r.Score, r.Decision, want.Score, want.Decision)
		}
	}
	if rows[0].Alerted() || !rows[1].Alerted() || !slices.Contains(rows[1].Reasons, "CARD_VELOCITY_1M") || !slices.Contains(rows[2].Reasons, "HIGH_AMOUNT") {
		t.Errorf("rows: %+v", rows)
	}
}

// TestCompareCountsAgainstBruteForce compares random decisions with counts
// made one row at a time.
func TestCompareCountsAgainstBruteForce(t *testing.T) {
	base := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	var active, cand []Row
	decisions := []fraud.Decision{fraud.Approve, fraud.Review, fraud.Decline}
	for i := range 300 {
		r := Row{ID: fmt.Sprint("tx-", i), Time: base.Add(time.Duration(i) * 37 * time.Minute), Label: i%7 == 0}
		a, c := r, r
		a.Decision = decisions[(i*5)%3]
		c.Decision = decisions[(i*11+1)%3]
		active, cand = append(active, a), append(cand, c)
	}
	cmp, err := Compare(active, cand, "v1", "v2")
	if err != nil {
		t.Fatal(err)
	}
	var onlyA, onlyC, both, newFalse, frauds int
	for i := range active {
		a, c := active[i].Alerted(), cand[i].Alerted()
		if !active[i].Label {
			if c && !a {
				newFalse++
			}
			continue
		}
		frauds++
		switch {
		case a && !c:
			onlyA++
		case c && !a:
			onlyC++
		case !a && !c:
			both++
		}
	}
	if len(cmp.CaughtOnlyByActive) != onlyA || len(cmp.CaughtOnlyByCandidate) != onlyC || len(cmp.MissedByBoth) != both || cmp.NewFalseAlerts != newFalse {
		t.Errorf("lists %d %d %d %d, want %d %d %d %d", len(cmp.CaughtOnlyByActive), len(cmp.CaughtOnlyByCandidate), len(cmp.MissedByBoth), cmp.NewFalseAlerts, onlyA, onlyC, both, newFalse)
	}
	s := cmp.Active
	if s.TP+s.FN != frauds || s.TP+s.FP != s.Alerts {
		t.Errorf("active summary %+v for %d frauds", s, frauds)
	}
	var dayRows, dayFrauds, dayCaught int
	for _, d := range cmp.Days {
		dayRows += d.Rows
		dayFrauds += d.Frauds
		dayCaught += d.CandidateCaught
	}
	if dayRows != 300 || dayFrauds != frauds || dayCaught != cmp.Candidate.TP {
		t.Errorf("days add up to %d rows, %d frauds, %d caught", dayRows, dayFrauds, dayCaught)
	}
	var text bytes.Buffer
	if err := cmp.WriteText(&text, 3); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), "more (--json lists them all)") {
		t.Errorf("text output does not shorten the lists:\n%s", text.String())
	}
	if _, err := Compare(active, cand[1:], "", ""); err == nil {
		t.Error("answers of different lengths were compared")
	}
}
