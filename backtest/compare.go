package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/fraudscore/scorer/fraud"
)

// Summary is how one engine's decisions did on the labelled rows.
type Summary struct {
	Name      string  `json:"name"`
	Version   string  `json:"model_version,omitempty"`
	Alerts    int     `json:"alerts"` // review or decline
	Declines  int     `json:"declines"`
	TP        int     `json:"true_positives"` // alerted frauds
	FP        int     `json:"false_positives"`
	FN        int     `json:"false_negatives"` // frauds not alerted
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
	// AlertsPerDay is the mean over the days the rows span.
	AlertsPerDay float64 `json:"alerts_per_day"`
}

// Day is one UTC day's alerts and frauds.
type Day struct {
	Date            string `json:"date"`
	Rows            int    `json:"rows"`
	Frauds          int    `json:"frauds"`
	ActiveAlerts    int    `json:"active_alerts"`
	ActiveCaught    int    `json:"active_caught"`
	CandidateAlerts int    `json:"candidate_alerts"`
	CandidateCaught int    `json:"candidate_caught"`
}

// Comparison sets a candidate engine's decisions beside the active one's
// on the same labelled rows.
type Comparison struct {
	Active    Summary `json:"active"`
	Candidate Summary `json:"candidate"`
	Days      []Day   `json:"days"`
	// The frauds (transaction ids) that only one engine alerts on, and
	// those neither does.
	CaughtOnlyByActive    []string `json:"caught_only_by_active"`
	CaughtOnlyByCandidate []string `json:"caught_only_by_candidate"`
	MissedByBoth          []string `json:"missed_by_both"`
	// NewFalseAlerts counts legitimate rows only the candidate alerts on.
	NewFalseAlerts int `json:"new_false_alerts"`
}

// Summarize counts rows' decisions against their labels.
func Summarize(name, version string, rows []Row) Summary {
	s := Summary{Name: name, Version: version}
	days := map[string]bool{}
	for i := range rows {
		r := &rows[i]
		days[r.Time.UTC().Format(time.DateOnly)] = true
		switch {
		case r.Alerted() && r.Label:
			s.TP++
		case r.Alerted():
			s.FP++
		case r.Label:
			s.FN++
		}
		if r.Decision == fraud.Decline {
			s.Declines++
		}
	}
	s.Alerts = s.TP + s.FP
	s.Precision = ratio(s.TP, s.Alerts)
	s.Recall = ratio(s.TP, s.TP+s.FN)
	if len(days) > 0 {
		s.AlertsPerDay = float64(s.Alerts) / float64(len(days))
	}
	return s
}

// Compare sets candidate beside active: both must be the answers for the
// same rows, in the same order.
func Compare(active, candidate []Row, activeVersion, candidateVersion string) (*Comparison, error) {
	if len(active) != len(candidate) {
		return nil, fmt.Errorf("backtest: %d active answers but %d candidate ones", len(active), len(candidate))
	}
	c := &Comparison{
		Active:    Summarize("active", activeVersion, active),
		Candidate: Summarize("candidate", candidateVersion, candidate),
	}
	byDay := map[string]*Day{}
	for i := range active {
		a, k := &active[i], &candidate[i]
		if a.ID != k.ID {
			return nil, fmt.Errorf("backtest: row %d is %q for the active engine but %q for the candidate", i, a.ID, k.ID)
		}
		date := a.Time.UTC().Format(time.DateOnly)
		d := byDay[date]
		if d == nil {
			d = &Day{Date: date}
			byDay[date] = d
		}
		d.Rows++
		if a.Alerted() {
			d.ActiveAlerts++
		}
		if k.Alerted() {
			d.CandidateAlerts++
		}
		if !a.Label {
			if k.Alerted() && !a.Alerted() {
				c.NewFalseAlerts++
			}
			continue
		}
		d.Frauds++
		switch {
		case a.Alerted() && k.Alerted():
			d.ActiveCaught++
			d.CandidateCaught++
		case a.Alerted():
			d.ActiveCaught++
			c.CaughtOnlyByActive = append(c.CaughtOnlyByActive, fraud.MaskString(a.ID))
		case k.Alerted():
			d.CandidateCaught++
			c.CaughtOnlyByCandidate = append(c.CaughtOnlyByCandidate, fraud.MaskString(a.ID))
		default:
			c.MissedByBoth = append(c.MissedByBoth, fraud.MaskString(a.ID))
		}
	}
	for _, d := range byDay {
		c.Days = append(c.Days, *d)
	}
	slices.SortFunc(c.Days, func(a, b Day) int {
		switch {
		case a.Date < b.Date:
			return -1
		case a.Date > b.Date:
			return 1
		}
		return 0
	})
	return c, nil
}

// WriteText writes the comparison for a reader: the two summaries, the
// days, and up to maxIDs transaction ids of each list of frauds.
func (c *Comparison) WriteText(w io.Writer, maxIDs int) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "\tmodel\talerts\talerts/day\tdeclines\tcaught\tmissed\tprecision\trecall\t\n")
	for _, s := range []Summary{c.Active, c.Candidate} {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.1f\t%d\t%d\t%d\t%.4f\t%.4f\t\n",
			s.Name, fraud.MaskString(s.Version), s.Alerts, s.AlertsPerDay, s.Declines, s.TP, s.FN, s.Precision, s.Recall)
	}
	tw.Flush()
	fmt.Fprintf(w, "\nlegitimate transactions only the candidate alerts on: %d\n", c.NewFalseAlerts)

	fmt.Fprintf(w, "\nBy day (UTC)\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "date\ttransactions\tfrauds\tactive alerts\tactive caught\tcandidate alerts\tcandidate caught\t\n")
	for _, d := range c.Days {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", d.Date, d.Rows, d.Frauds, d.ActiveAlerts, d.ActiveCaught, d.CandidateAlerts, d.CandidateCaught)
	}
	tw.Flush()

	for _, l := range []struct {
		name string
		ids  []string
	}{
		{"frauds caught only by the candidate", c.CaughtOnlyByCandidate},
		{"frauds caught only by the active engine", c.CaughtOnlyByActive},
		{"frauds missed by both", c.MissedByBoth},
	} {
		fmt.Fprintf(w, "\n%s: %d\n", l.name, len(l.ids))
		for i, id := range l.ids {
			if i == maxIDs {
				fmt.Fprintf(w, "  ... and %d more (--json lists them all)\n", len(l.ids)-maxIDs)
				break
			}
			fmt.Fprintf(w, "  %s\n", id)
		}
	}
	return nil
}

// WriteJSON writes the whole comparison as JSON.
func (c *Comparison) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(c)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
