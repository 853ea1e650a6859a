package loadtest

import (
	"fmt"
	"html"
	"io"
	"math"
	"slices"
	"strings"
)

// WriteHTML writes the report as one self-contained HTML page: a summary,
// latency over time (per-second p50 and p99) and the percentile curve, as
// inline SVG. It loads nothing from anywhere.
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
text{font:11px system-ui,sans-serif;fill:#555}
</style></head><body>
`)
	fmt.Fprintf(&b, "<h1>scorer loadtest</h1>\n<p>%s %s, run <code>%s</code>, schedule <code>%s</code>%s</p>\n",
		esc(rep.Mode), esc(rep.Target), esc(rep.RunID), esc(rep.Schedule), map[bool]string{true: " (interrupted)"}[rep.Interrupted])
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

	b.WriteString("<h2>Latency over time (from due time, per second of completion)</h2>\n")
	var p50, p99 [][2]float64
	var xmax float64 = 1
	for _, s := range rep.Timeline {
		if s.Count == 0 {
			continue
		}
		x := float64(s.T) + 0.5
		p50 = append(p50, [2]float64{x, s.P50Ms})
		p99 = append(p99, [2]float64{x, s.P99Ms})
	}
	if n := len(rep.Timeline); n > 0 {
		xmax = float64(rep.Timeline[n-1].T + 1)
	}
	var xt []tick
	for _, v := range niceTicks(xmax) {
		xt = append(xt, tick{v, fmt.Sprintf("%gs", v)})
	}
	lineChart(&b, xmax, xt, []series{{"p50", "#1f77b4", p50}, {"p99", "#d62728", p99}})

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
	lineChart(&b, xEnd, pt, []series{{"latency", "#2ca02c", pts}})
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
}

// lineChart draws series in an inline SVG with a linear millisecond y axis.
func lineChart(b *strings.Builder, xmax float64, xt []tick, ss []series) {
	const W, H, L, R, T, B = 900.0, 300.0, 60.0, 20.0, 20.0, 30.0
	ymax := 0.0
	for _, s := range ss {
		for _, p := range s.pts {
			ymax = math.Max(ymax, p[1])
		}
	}
	yt := niceTicks(math.Max(ymax, 0.001))
	ytop := yt[len(yt)-1]
	x := func(v float64) float64 { return L + v/xmax*(W-L-R) }
	y := func(v float64) float64 { return H - B - v/ytop*(H-T-B) }
	fmt.Fprintf(b, `<svg width="%g" height="%g" viewBox="0 0 %g %g" role="img">`+"\n", W, H, W, H)
	for _, t := range yt {
		fmt.Fprintf(b, `<line class="grid" x1="%g" y1="%.1f" x2="%g" y2="%.1f"/><text x="%g" y="%.1f" text-anchor="end">%s</text>`+"\n",
			L, y(t), W-R, y(t), L-4, y(t)+4, html.EscapeString(fmtMs(t)))
	}
	for _, t := range xt {
		fmt.Fprintf(b, `<line class="grid" x1="%.1f" y1="%g" x2="%.1f" y2="%g"/><text x="%.1f" y="%g" text-anchor="middle">%s</text>`+"\n",
			x(t.v), T, x(t.v), H-B, x(t.v), H-B+16, html.EscapeString(t.label))
	}
	fmt.Fprintf(b, `<line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/><line class="axis" x1="%g" y1="%g" x2="%g" y2="%g"/>`+"\n",
		L, H-B, W-R, H-B, L, T, L, H-B)
	for i, s := range ss {
		if len(s.pts) > 0 {
			var pts strings.Builder
			for _, p := range s.pts {
				fmt.Fprintf(&pts, "%.1f,%.1f ", x(p[0]), y(p[1]))
			}
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", s.color, strings.TrimSpace(pts.String()))
		}
		fmt.Fprintf(b, `<text x="%g" y="%g" style="fill:%s">%s</text>`+"\n", L+10+float64(i)*70, T+12, s.color, html.EscapeString(s.name))
	}
	b.WriteString("</svg>\n")
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
