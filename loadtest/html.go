package loadtest

import (
	"cmp"
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: the capacity
// search when there was one (its curve as a table, goodput and admitted p99
// against the offered rate), a summary, the stages, and per second of the
// run goodput and sheds, admitted p99 and max, latency p50 and p99 (stage
// boundaries marked), then the percentile curve, as inline SVG. It loads
// nothing from anywhere.
func (rep *Report) WriteHTML(w io.Writer) error {
	var b strings.Builder
	esc := html.EscapeString
	b.WriteString(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>scorer loadtest ` + esc(rep.RunID) + `</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:980px}
table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;border-bottom:1px solid #eee}
svg{background:#fff;border:1px solid #ddd;margin:8px 0}
.axis{stroke:#999;stroke-width:1}.grid{stroke:#eee;stroke-width:1}
.mark{stroke:#555;stroke-width:1;stroke-dasharray:3 3}.budget{stroke:#d62728;stroke-width:1;stroke-dasharray:6 4}
text{font:11px system-ui,sans-serif;fill:#555}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>scorer loadtest</h1>\n<p>%s %s, run <code>%s</code>, schedule <code>%s</code>%s</p>\n",
		esc(rep.Mode), esc(rep.Target), esc(rep.RunID), esc(rep.Schedule), map[bool]string{true: " (interrupted)"}[rep.Interrupted])
	if rep.Capacity != nil {
		writeCapacityHTML(&b, rep.Capacity)
		if rep.Capacity.Found() {
			b.WriteString("<h2>The highest passing step</h2>\n")
		} else {
			b.WriteString("<h2>The first step</h2>\n")
		}
	}
	b.WriteString("<table>\n")
	row := func(k, v string) { fmt.Fprintf(&b, "<tr><th>%s</th><td>%s</td></tr>\n", esc(k), esc(v)) }
	row("requests", fmt.Sprintf("%d offered, %d sent, %d dropped", rep.Requests, rep.Sent, rep.Dropped))
	row("rate", fmt.Sprintf("%.1f/s offered, %.1f/s answered, %.1f/s successful", rep.Rate, rep.AchievedRate, rep.Throughput))
	row("duration", fmt.Sprintf("%.2fs", rep.DurationS))
	codes := make([]string, 0, len(rep.Status))
	for k, v := range rep.Status {
		codes = append(codes, fmt.Sprintf("%s=%d", k, v))
	}
	slices.Sort(codes)
	row("status", strings.Join(codes, " "))
	row("outcome", fmt.Sprintf("%d ok, %d shed, %d errors (rate %.4f)", rep.Successes, rep.Shed, rep.Errors, rep.ErrorRate))
	pct := func(p Percentiles) string {
		return fmt.Sprintf("p50 %s, p90 %s, p99 %s, p99.9 %s, max %s, mean %s", fmtMs(p.P50), fmtMs(p.P90), fmtMs(p.P99), fmtMs(p.P999), fmtMs(p.Max), fmtMs(p.Mean))
	}
	row("latency (from due)", pct(rep.Latency))
	row("admitted latency (successes, from due)", pct(rep.OKLatency))
	row("service (from send)", pct(rep.Service))
	if rep.EndToEnd != nil {
		row("end-to-end (to alert)", pct(*rep.EndToEnd))
	}
	d := rep.Detection
	row("detection", fmt.Sprintf("tp %d, fp %d, fn %d, precision %.3f, recall %.3f", d.TP, d.FP, d.FN, d.Precision, d.Recall))
	for _, s := range rep.ErrorSamples {
		row("error sample", s)
	}
	b.WriteString("</table>\n")
	if len(rep.Stages) > 1 {
		writeStagesHTML(&b, rep.Stages)
	}

	// The time charts: one x axis in seconds since the start, with the
	// stage boundaries marked when there are several stages.
	var p50, p99, okP99, okMax, good, shed, bad [][2]float64
	var anyBad bool
	// The rates stop with the offer: a second after the schedule's end
	// holds only the last answers, and its dip would read as a collapse.
	offerEnd := math.Inf(1)
	if n := len(rep.Stages); n > 0 {
		offerEnd = rep.Stages[n-1].StartS + rep.Stages[n-1].DurationS
	}
	for _, s := range rep.Timeline {
		x := float64(s.T) + 0.5
		if float64(s.T) < offerEnd {
			good = append(good, [2]float64{x, float64(s.OK)})
			shed = append(shed, [2]float64{x, float64(s.Shed)})
			bad = append(bad, [2]float64{x, float64(s.Errors + s.Dropped)})
			anyBad = anyBad || s.Errors+s.Dropped > 0
		}
		if s.Count > 0 {
			p50 = append(p50, [2]float64{x, s.P50Ms})
			p99 = append(p99, [2]float64{x, s.P99Ms})
		}
		if s.OK > 0 {
			okP99 = append(okP99, [2]float64{x, s.OKP99Ms})
			okMax = append(okMax, [2]float64{x, s.OKMaxMs})
		}
	}
	xmax := 1.0
	if n := len(rep.Timeline); n > 0 {
		xmax = float64(rep.Timeline[n-1].T + 1)
	}
	var xt []tick
	for _, v := range niceTicks(xmax) {
		xt = append(xt, tick{v, fmt.Sprintf("%gs", v)})
	}
	var marks []mark
	if len(rep.Stages) > 1 {
		for _, st := range rep.Stages[1:] {
			label := fmtNum(st.Rate) + "/s"
			if st.RateX > 0 {
				label = fmtNum(st.RateX) + "x"
			}
			marks = append(marks, mark{st.StartS, label})
		}
	}
	timeChart := chart{xmax: xmax, xt: xt, yfmt: fmtMs, marks: marks}

	b.WriteString("<h2>Goodput and sheds over time (per second of completion, while the schedule offers)</h2>\n")
	rates := []series{{name: "goodput (ok/s)", color: "#2ca02c", pts: good}, {name: "shed/s (503)", color: "#ff7f0e", pts: shed}}
	if anyBad {
		rates = append(rates, series{name: "errors+dropped/s", color: "#7f7f7f", pts: bad})
	}
	rateChart := timeChart
	rateChart.yfmt = func(v float64) string { return fmtNum(v) + "/s" }
	drawChart(&b, rateChart, rates)

	b.WriteString("<h2>Admitted latency over time (successful answers, from due time, per second of completion)</h2>\n")
	drawChart(&b, timeChart, []series{{name: "admitted p99", color: "#9467bd", pts: okP99}, {name: "admitted max", color: "#c5b0d5", pts: okMax}})

	b.WriteString("<h2>Latency over time (every answer, from due time, per second of completion)</h2>\n")
	drawChart(&b, timeChart, []series{{name: "p50", color: "#1f77b4", pts: p50}, {name: "p99", color: "#d62728", pts: p99}})

	b.WriteString("<h2>Latency percentile curve (from due time)</h2>\n")
	// x is log10(1/(1-p)): 90% at 1, 99% at 2, 99.9% at 3 ...; 100% sits at the end.
	var pts [][2]float64
	const xEnd = 5.0 // 99.999%
	for _, c := range rep.Curve {
		x := xEnd
		if c.Percentile < 100 {
			x = math.Min(math.Log10(100/(100-c.Percentile)), xEnd)
		}
		pts = append(pts, [2]float64{x, c.Ms})
	}
	pt := []tick{{0, "0%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%+"}}
	lineChart(&b, xEnd, pt, []series{{name: "latency", color: "#2ca02c", pts: pts}})
	b.WriteString("</body></html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

type tick struct {
	v     float64
	label string
}

type series struct {
	name, color string
	pts         [][2]float64
	// dots marks each point (colored by pass[i] when set: green pass, red
	// fail), for curves of few points; dash draws the line dashed.
	dots bool
	pass []bool
	dash bool
}

// mark is a labelled vertical line (a stage boundary) at x.
type mark struct {
	x     float64
	label string
}

// chart is the frame of a line chart: x from 0 to xmax, a linear y axis
// from 0 whose tick labels yfmt formats, vertical marks, and an optional
// horizontal budget line.
type chart struct {
	xmax        float64
	xt          []tick
	yfmt        func(float64) string
	marks       []mark
	budget      float64 // > 0: a dashed horizontal line at this y
	budgetLabel string
}

// lineChart draws series in an inline SVG with a linear millisecond y axis.
func lineChart(b *strings.Builder, xmax float64, xt []tick, ss []series) {
	drawChart(b, chart{xmax: xmax, xt: xt, yfmt: fmtMs}, ss)
}

// drawChart draws series as inline SVG.
func drawChart(b *strings.Builder, c chart, ss []series) {
	const W, H, L, R, T, B = 900.0, 300.0, 70.0, 20.0, 20.0, 30.0
	ymax := c.budget * 1.1 // room for its label
	for _, s := range ss {
		for _, p := range s.pts {
			ymax = math.Max(ymax, p[1])
		}
	}
	yt := niceTicks(math.Max(ymax, 0.001))
	ytop := yt[len(yt)-1]
	xmax := math.Max(c.xmax, 1e-9)
	x := func(v float64) float64 { return L + v/xmax*(W-L-R) }
	y := func(v float64) float64 { return H - B - v/ytop*(H-T-B) }
	esc := html.EscapeString
	fmt.Fprintf(b, `<svg width="%g" height="%g" viewBox="0 0 %g %g" role="img">`+"\n", W, H, W, H)
	for _, t := range yt {
		fmt.Fprintf(b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n",
			L, y(t), W-R, y(t), L-4, y(t)+4, esc(c.yfmt(t)))
	}
	for _, t := range c.xt {
		if t.v > xmax*(1+1e-9) {
			continue // niceTicks may round past the end
		}
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" y1="%g" x2="%.1f" y2="%g"/><text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n",
			x(t.v), T, x(t.v), H-B, x(t.v), H-B+16, esc(t.label))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`+"\n",
		L, H-B, W-R, H-B, L, T, L, H-B)
	for _, m := range c.marks {
		fmt.Fprintf(b, `<line class="mark" x1="%.1f" y1="%g" x2="%.1f" y2="%g"/><text x="%.1f" y="%g">%s</text>`+"\n",
			x(m.x), T, x(m.x), H-B, x(m.x)+3, T+26, esc(m.label))
	}
	if c.budget > 0 {
		fmt.Fprintf(b, `<line class="budget" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n",
			L, y(c.budget), W-R, y(c.budget), W-R-4, y(c.budget)+14, esc(c.budgetLabel))
	}
	for i, s := range ss {
		if len(s.pts) > 0 {
			var pts strings.Builder
			for _, p := range s.pts {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(p[0]), y(p[1]))
			}
			dash := ""
			if s.dash {
				dash = ` stroke-dasharray="6 4"`
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5"%s points="%s"/>`+"\n", s.color, dash, strings.TrimSpace(pts.String()))
		}
		if s.dots {
			for j, p := range s.pts {
				color := s.color
				if j < len(s.pass) {
					color = map[bool]string{true: "#2ca02c", false: "#d62728"}[s.pass[j]]
				}
				fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"/>`+"\n", x(p[0]), y(p[1]), color)
			}
		}
		fmt.Fprintf(b, `<text x="%g" y="%g" style="fill:%s">%s</text>`+"\n", L+10+float64(i)*130, T+12, s.color, esc(s.name))
	}
	b.WriteString("</svg>\n")
}

// fmtNum formats a count or rate: whole numbers without decimals.
func fmtNum(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e15 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

// writeStagesHTML writes the per-stage table.
func writeStagesHTML(b *strings.Builder, stages []StageSummary) {
	b.WriteString("<h2>Stages</h2>\n<p>By due time: a request belongs to the stage it was due in, whenever it was answered. " +
		"Goodput is successes per second of the stage; shed % is of the requests offered; latency is from the due time.</p>\n<table>\n" +
		"<tr><th>stage</th><th>start</th><th>length</th><th>offered</th><th>goodput</th><th>shed %</th><th>errors</th><th>dropped</th>" +
		"<th>admitted p50</th><th>admitted p99</th><th>admitted max</th><th>all p99</th></tr>\n")
	for _, s := range stages {
		offered := fmtNum(s.Rate) + "/s"
		if s.RateX > 0 {
			offered += " (" + fmtNum(s.RateX) + "x)"
		}
		fmt.Fprintf(b, "<tr><td>%d</td><td>%gs</td><td>%gs</td><td>%s</td><td>%.0f/s</td><td>%.1f</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			s.Stage, round3(s.StartS), round3(s.DurationS), html.EscapeString(offered), s.Goodput, s.ShedPct, s.Errors, s.Dropped,
			fmtMs(s.OKLatency.P50), fmtMs(s.OKLatency.P99), fmtMs(s.OKLatency.Max), fmtMs(s.P99Ms))
	}
	b.WriteString("</table>\n")
}

// writeCapacityHTML writes the capacity search: the answer, the curve as a
// table, and goodput and admitted p99 against the offered rate.
func writeCapacityHTML(b *strings.Builder, c *CapacityReport) {
	esc := html.EscapeString
	fmt.Fprintf(b, "<h2>Capacity search</h2>\n<p><strong>%s</strong></p>\n", esc(c.Answer()))
	fmt.Fprintf(b, "<p>A step passes when the p99 of its successful answers (from the due time) is at most %s and "+
		"(shed + errors + dropped) / offered at most %s. Steps of %gs, %gs of quiet before each; the search stopped: %s.</p>\n",
		esc(fmtMs(c.MaxP99Ms)), esc(fmtPct(c.MaxErrorRate)), c.StepDurationS, c.SettleS, esc(c.Stop))
	b.WriteString("<table>\n<tr><th>step</th><th>phase</th><th>offered</th><th>goodput</th><th>shed %</th><th>errors</th><th>dropped</th>" +
		"<th>admitted p50</th><th>admitted p99</th><th>admitted max</th><th>all p99</th><th>result</th></tr>\n")
	for _, s := range c.Steps {
		result := "pass"
		if !s.Pass {
			result = "fail: " + s.Why
		}
		fmt.Fprintf(b, "<tr><td>%d</td><td>%s</td><td>%.0f/s</td><td>%.0f/s</td><td>%.2f</td><td>%d</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			s.Step, esc(s.Phase), s.Offered, s.Goodput, s.ShedPct, s.Errors, s.Dropped,
			fmtMs(s.OKLatency.P50), fmtMs(s.OKLatency.P99), fmtMs(s.OKLatency.Max), fmtMs(s.P99Ms), esc(result))
	}
	b.WriteString("</table>\n")
	if len(c.Steps) == 0 {
		return
	}
	steps := slices.Clone(c.Steps)
	slices.SortStableFunc(steps, func(a, b CapacityStep) int { return cmp.Compare(a.Offered, b.Offered) })
	var good, ideal, p99 [][2]float64
	var pass, p99pass []bool
	xmax := 0.0
	for _, s := range steps {
		good = append(good, [2]float64{s.Offered, s.Goodput})
		pass = append(pass, s.Pass)
		if s.OK > 0 { // no admitted p99 without a success
			p99 = append(p99, [2]float64{s.Offered, s.OKLatency.P99})
			p99pass = append(p99pass, s.Pass)
		}
		xmax = math.Max(xmax, s.Offered)
	}
	xmax *= 1.05
	ideal = [][2]float64{{0, 0}, {xmax, xmax}}
	var xt []tick
	for _, v := range niceTicks(xmax) {
		xt = append(xt, tick{v, fmtNum(v) + "/s"})
	}
	var marks []mark
	if c.Found() {
		marks = []mark{{c.Rate, "capacity " + fmtNum(c.Rate) + "/s"}}
	}
	b.WriteString("<h3>Goodput against the offered rate (green: step passed, red: failed)</h3>\n")
	drawChart(b, chart{xmax: xmax, xt: xt, yfmt: func(v float64) string { return fmtNum(v) + "/s" }, marks: marks},
		[]series{{name: "goodput (ok/s)", color: "#2ca02c", pts: good, dots: true, pass: pass}, {name: "offered", color: "#bbbbbb", pts: ideal, dash: true}})
	b.WriteString("<h3>Admitted p99 against the offered rate</h3>\n")
	drawChart(b, chart{xmax: xmax, xt: xt, yfmt: fmtMs, marks: marks, budget: c.MaxP99Ms, budgetLabel: "budget " + fmtMs(c.MaxP99Ms)},
		[]series{{name: "admitted p99", color: "#9467bd", pts: p99, dots: true, pass: p99pass}})
}

// niceTicks returns 0 and about five round steps covering max.
func niceTicks(max float64) []float64 {
	if max <= 0 {
		max = 1
	}
	raw := max / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	var t []float64
	for v := 0.0; ; v += step {
		t = append(t, math.Round(v/step)*step)
		if v >= max-1e-12 {
			return t
		}
	}
}
