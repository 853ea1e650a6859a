package loadtest

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	hdr "github.com/HdrHistogram/hdrhistogram-go"
)

// Report is the outcome of a run. Its JSON form is what --out writes.
//
// Counts add up: Requests = Dropped + the sum of Status, and
// Throughput × DurationS = the successes (2xx answers, or Kafka acks).
type Report struct {
	Mode     string `json:"mode"`
	Target   string `json:"target"`
	RunID    string `json:"run_id"`
	Schedule string `json:"schedule"`
	// Requests is what the schedule offered until the run ended: sent + dropped.
	Requests int64 `json:"requests"`
	Sent     int64 `json:"sent"`
	// Rate is the offered rate (requests per second of the schedule);
	// AchievedRate is answers per second; Throughput is successes per second.
	Rate         float64 `json:"rate"`
	AchievedRate float64 `json:"achieved_rate"`
	Throughput   float64 `json:"throughput"`
	// DurationS runs from the start to the last answer.
	DurationS float64 `json:"duration_s"`
	// Dropped counts requests the pacer could not start within the slack of
	// their due time because all --max-inflight workers were busy.
	Dropped int64            `json:"dropped"`
	Status  map[string]int64 `json:"status"`
	// Successes are 2xx answers (or Kafka acks); Shed are 503 answers;
	// Errors are everything else sent: transport errors, 4xx, and 5xx
	// other than 503. ErrorRate = Errors / Sent.
	Successes    int64       `json:"successes"`
	Shed         int64       `json:"shed"`
	Errors       int64       `json:"errors"`
	ErrorRate    float64     `json:"error_rate"`
	ErrorSamples []string    `json:"error_samples"`
	Latency      Percentiles `json:"latency_ms"` // from the due time, every answer
	// OKLatency (admitted latency) is from the due time too, of the
	// successful answers only: a server that sheds answers its 503s fast,
	// and mixed into Latency they would hide how long admitted requests wait.
	OKLatency Percentiles `json:"ok_latency_ms"`
	Service   Percentiles `json:"service_ms"` // from the actual send
	// EndToEnd (Kafka mode) runs from the due time of a fraud-labelled
	// transaction to its alert on the alerts topic.
	EndToEnd    *Percentiles `json:"e2e_ms,omitempty"`
	Detection   Detection    `json:"detection"`
	Interrupted bool         `json:"interrupted,omitempty"`
	// NominalCapacity is the --capacity the stage rates were written
	// against (Config.Capacity), when one was given.
	NominalCapacity float64 `json:"nominal_capacity,omitempty"`
	// Stages summarises each stage of the schedule that began, by the due
	// time of its requests: their counts add up to the report's.
	Stages   []StageSummary `json:"stages"`
	Timeline []Second       `json:"timeline"`
	// Curve is the latency percentile curve (from the due time).
	Curve []CurvePoint `json:"percentile_curve"`
	// Capacity is the search of a --find-capacity run; the rest of the
	// report is then its highest passing step (its first step when none
	// passed).
	Capacity *CapacityReport `json:"capacity,omitempty"`
}

// Percentiles are in milliseconds.
type Percentiles struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p999"`
	Max   float64 `json:"max"`
	Mean  float64 `json:"mean"`
}

// StageSummary is what became of the requests due in one stage of the
// schedule, wherever their answers fell in time. Requests = Sent +
// Dropped, and Sent = OK + Shed + Errors.
type StageSummary struct {
	Stage  int     `json:"stage"` // 1-based
	StartS float64 `json:"start_s"`
	// DurationS is the stage's length, or the part of it that ran when the
	// run was cut short.
	DurationS float64 `json:"duration_s"`
	// Rate is the offered rate (requests per second); RateX the same as a
	// multiple of the nominal capacity, when one was given.
	Rate     float64 `json:"rate"`
	RateX    float64 `json:"rate_x,omitempty"`
	Requests int64   `json:"requests"`
	Sent     int64   `json:"sent"`
	OK       int64   `json:"ok"`
	// Goodput is OK per second of the stage.
	Goodput float64 `json:"goodput"`
	Shed    int64   `json:"shed"`
	// ShedPct is Shed as a percentage of Requests.
	ShedPct float64 `json:"shed_pct"`
	Errors  int64   `json:"errors"`
	Dropped int64   `json:"dropped"`
	// OKLatency is the admitted latency (successful answers, from the due
	// time); P99Ms the p99 of every answer.
	OKLatency Percentiles `json:"ok_latency_ms"`
	P99Ms     float64     `json:"p99_ms"`
}

// CurvePoint is one point of the percentile curve.
type CurvePoint struct {
	Percentile float64 `json:"percentile"`
	Ms         float64 `json:"ms"`
}

func percentiles(h *hdr.Histogram) Percentiles {
	return Percentiles{
		Count: h.TotalCount(),
		P50:   usToMs(h.ValueAtQuantile(50)),
		P90:   usToMs(h.ValueAtQuantile(90)),
		P99:   usToMs(h.ValueAtQuantile(99)),
		P999:  usToMs(h.ValueAtQuantile(99.9)),
		Max:   usToMs(h.Max()),
		Mean:  float64(int64(h.Mean())) / 1000,
	}
}

var curvePercentiles = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.875, 97.5, 98.4375,
	99, 99.21875, 99.5, 99.609375, 99.75, 99.8, 99.9, 99.95, 99.99, 99.999, 100}

func curve(h *hdr.Histogram) []CurvePoint {
	if h.TotalCount() == 0 {
		return nil
	}
	pts := make([]CurvePoint, 0, len(curvePercentiles))
	for _, p := range curvePercentiles {
		pts = append(pts, CurvePoint{Percentile: p, Ms: usToMs(h.ValueAtQuantile(p))})
	}
	return pts
}

// setNominalCapacity records the capacity the stage rates were written
// against, and each stage's rate as a multiple of it; nothing when c <= 0.
func (rep *Report) setNominalCapacity(c float64) {
	if c <= 0 {
		return
	}
	rep.NominalCapacity = c
	for i := range rep.Stages {
		rep.Stages[i].RateX = rep.Stages[i].Rate / c
	}
}

// stageSummaries summarises the stages that began before cut (every stage
// when cut is 0). Called with mu held.
func (r *recorder) stageSummaries(cut time.Duration) []StageSummary {
	out := []StageSummary{}
	var start time.Duration
	for k, st := range r.sched {
		dur := st.Duration
		if cut > 0 {
			if start >= cut {
				break
			}
			dur = min(dur, cut-start)
		}
		acc := &r.stages[k]
		s := StageSummary{
			Stage:     k + 1,
			StartS:    start.Seconds(),
			DurationS: dur.Seconds(),
			Rate:      st.Rate,
			Requests:  acc.sent + acc.dropped,
			Sent:      acc.sent,
			OK:        acc.ok,
			Shed:      acc.shed,
			Errors:    acc.errs,
			Dropped:   acc.dropped,
		}
		if dur > 0 {
			s.Goodput = float64(acc.ok) / dur.Seconds()
		}
		if s.Requests > 0 {
			s.ShedPct = 100 * float64(acc.shed) / float64(s.Requests)
		}
		if acc.lat != nil {
			s.OKLatency = percentiles(acc.okLat)
			s.P99Ms = usToMs(acc.lat.ValueAtQuantile(99))
		}
		out = append(out, s)
		start += st.Duration
	}
	return out
}

// report closes the recorder's timeline and builds the Report. cut is how
// long after the start the schedule was cut short (an interrupt, or a
// source that ran out), 0 when it ran in full.
func (r *recorder) report(offered int64, rate float64, cut time.Duration) *Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.advance(r.last.Add(time.Second)) // close the last partial second
	dur := r.last.Sub(r.start).Seconds()
	rep := &Report{
		Requests:     offered,
		Sent:         r.sent,
		Rate:         rate,
		DurationS:    dur,
		Dropped:      r.dropped,
		Status:       maps(r.status),
		Successes:    r.ok,
		Shed:         r.shed,
		Errors:       r.errs,
		ErrorSamples: slices.Clone(r.samples),
		Latency:      percentiles(r.lat),
		OKLatency:    percentiles(r.okLat),
		Service:      percentiles(r.svc),
		Detection:    r.det,
		Stages:       r.stageSummaries(cut),
		Timeline:     slices.Clone(r.seconds),
		Curve:        curve(r.lat),
	}
	if rep.ErrorSamples == nil {
		rep.ErrorSamples = []string{}
	}
	if dur > 0 {
		rep.AchievedRate = float64(r.sent) / dur
		rep.Throughput = float64(r.ok) / dur
	}
	if r.sent > 0 {
		rep.ErrorRate = float64(r.errs) / float64(r.sent)
	}
	rep.Detection.finish()
	return rep
}

func maps(m map[string]int64) map[string]int64 {
	out := make(map[string]int64, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Thresholds make a run fail (exit 99 in the command).
type Thresholds struct {
	// MaxP99 bounds the latency p99 (from the due time); 0 is off.
	MaxP99 time.Duration
	// MaxErrorRate is the largest acceptable ErrorRate: 0 allows no error,
	// and a value >= 1 (or < 0) is off. 503s (shed) and drops are not errors.
	MaxErrorRate float64
}

// Check returns an error naming every threshold the report breaks.
func (rep *Report) Check(th Thresholds) error {
	var broken []string
	if th.MaxP99 > 0 {
		if p99 := time.Duration(rep.Latency.P99 * float64(time.Millisecond)); p99 > th.MaxP99 {
			broken = append(broken, fmt.Sprintf("p99 latency %s is over --max-p99 %s", fmtMs(rep.Latency.P99), th.MaxP99))
		}
	}
	if th.MaxErrorRate >= 0 && th.MaxErrorRate < 1 && rep.ErrorRate > th.MaxErrorRate {
		broken = append(broken, fmt.Sprintf("error rate %.4f is over --max-error-rate %g", rep.ErrorRate, th.MaxErrorRate))
	}
	if len(broken) == 0 {
		return nil
	}
	return fmt.Errorf("thresholds broken: %s", strings.Join(broken, "; "))
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}

// WriteFile writes the report to path, as JSON or (with html) as HTML.
func (rep *Report) WriteFile(path string, html bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if html {
		err = rep.WriteHTML(f)
	} else {
		err = rep.WriteJSON(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func fmtMs(ms float64) string {
	switch {
	case ms >= 1000:
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	default:
		return strconv.FormatFloat(ms, 'f', 3, 64) + "ms"
	}
}

// WriteText writes the human summary.
func (rep *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "scorer loadtest: %s %s (run %s)\n", rep.Mode, rep.Target, rep.RunID)
	if rep.Interrupted {
		b.WriteString("  interrupted: the report covers the run until the interrupt\n")
	}
	fmt.Fprintf(&b, "  schedule     %s  (offered %.1f/s)\n", rep.Schedule, rep.Rate)
	fmt.Fprintf(&b, "  requests     %d offered, %d sent, %d dropped\n", rep.Requests, rep.Sent, rep.Dropped)
	fmt.Fprintf(&b, "  duration     %.2fs\n", rep.DurationS)
	fmt.Fprintf(&b, "  achieved     %.1f/s answered, %.1f/s successful\n", rep.AchievedRate, rep.Throughput)
	codes := make([]string, 0, len(rep.Status))
	for k := range rep.Status {
		codes = append(codes, k)
	}
	slices.Sort(codes)
	b.WriteString("  status      ")
	for _, k := range codes {
		fmt.Fprintf(&b, " %s=%d", k, rep.Status[k])
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  outcome      %d ok, %d shed (503), %d errors (error rate %.4f)\n", rep.Successes, rep.Shed, rep.Errors, rep.ErrorRate)
	writePct := func(name string, p Percentiles) {
		fmt.Fprintf(&b, "  %-12s p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (n=%d)\n", name,
			fmtMs(p.P50), fmtMs(p.P90), fmtMs(p.P99), fmtMs(p.P999), fmtMs(p.Max), fmtMs(p.Mean), p.Count)
	}
	writePct("latency", rep.Latency)
	writePct("admitted latency", rep.OKLatency)
	writePct("service", rep.Service)
	if rep.EndToEnd != nil {
		writePct("end-to-end", *rep.EndToEnd)
	}
	if len(rep.Stages) > 1 {
		writeStages(&b, rep.Stages)
	}
	d := rep.Detection
	fmt.Fprintf(&b, "  detection    tp %d  fp %d  fn %d  tn %d  precision %.3f  recall %.3f\n", d.TP, d.FP, d.FN, d.TN, d.Precision, d.Recall)
	if len(rep.ErrorSamples) > 0 {
		b.WriteString("  error samples:\n")
		for _, s := range rep.ErrorSamples {
			fmt.Fprintf(&b, "    - %s\n", s)
		}
	}
	if rep.Dropped > 0 {
		fmt.Fprintf(&b, "  warning: %d requests were dropped: raise --max-inflight or lower the rate; the latency figures do not include them\n", rep.Dropped)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeStages writes the per-stage table of the text summary.
func writeStages(b *strings.Builder, stages []StageSummary) {
	b.WriteString("  stages (by due time; goodput = ok/s; shed % of offered; latency from due time):\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\tstage\tstart\tlength\toffered\t\tgoodput\tshed %\terrors\tdropped\tok p50\tok p99\tok max\tall p99\t")
	for _, s := range stages {
		x := ""
		if s.RateX > 0 {
			x = strconv.FormatFloat(s.RateX, 'f', -1, 64) + "x"
		}
		fmt.Fprintf(tw, "\t%d\t%gs\t%gs\t%.0f/s\t%s\t%.0f/s\t%.1f\t%d\t%d\t%s\t%s\t%s\t%s\t\n",
			s.Stage, round3(s.StartS), round3(s.DurationS), s.Rate, x, s.Goodput, s.ShedPct, s.Errors, s.Dropped,
			fmtMs(s.OKLatency.P50), fmtMs(s.OKLatency.P99), fmtMs(s.OKLatency.Max), fmtMs(s.P99Ms))
	}
	tw.Flush()
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }
