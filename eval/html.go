package eval

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WriteHTML writes the report as one self-contained HTML page: the
// summary, the ROC and precision-recall curves as inline SVG (drawn with
// gonum/plot, the named thresholds marked on them), and the tables. It
// loads nothing: no scripts, style sheets, fonts or images from elsewhere.
func (r *Report) WriteHTML(w io.Writer) error {
	roc, err := r.rocSVG()
	if err != nil {
		return fmt.Errorf("eval: ROC chart: %w", err)
	}
	pr, err := r.prSVG()
	if err != nil {
		return fmt.Errorf("eval: PR chart: %w", err)
	}
	type row struct {
		Label string
		Pos   int
		Neg   int
	}
	var hist []row
	for i := range r.Histogram.Positives {
		hist = append(hist, row{binLabel(r.Histogram, i), r.Histogram.Positives[i], r.Histogram.Negatives[i]})
	}
	thresholds := make([]ThresholdPoint, len(r.Thresholds))
	for i, t := range r.Thresholds {
		t.Name = safe(t.Name)
		thresholds[i] = t
	}
	return pageTemplate.Execute(w, map[string]any{
		"Title":      safe(r.Title),
		"R":          r,
		"Thresholds": thresholds,
		"Hist":       hist,
		"Reasons":    r.reasons(),
		"ROC":        template.HTML(roc),
		"PR":         template.HTML(pr),
	})
}

var pageTemplate = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": pct,
	"f4":  func(x float64) string { return fmt.Sprintf("%.4f", x) },
	"g6":  func(x float64) string { return fmt.Sprintf("%.6g", x) },
}).Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Evaluation{{if .Title}}: {{.Title}}{{end}}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
td.name { text-align: left; }
.charts { display: flex; flex-wrap: wrap; gap: 2em; }
.charts figure { margin: 0; }
.charts svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Evaluation{{if .Title}}: {{.Title}}{{end}}</h1>
<table>
<tr><th>rows</th><td>{{.R.Rows}}</td></tr>
<tr><th>positives</th><td>{{.R.Positives}} ({{pct .R.PositiveRate}})</td></tr>
<tr><th>ROC AUC</th><td>{{f4 .R.ROCAUC}}</td></tr>
<tr><th>average precision</th><td>{{f4 .R.AveragePrecision}}</td></tr>
</table>
<p>Average precision is the step-wise area under the precision-recall curve, as scikit-learn's average_precision_score. Rows with score &ge; threshold alert.</p>
<div class="charts">
<figure>{{.ROC}}<figcaption>ROC curve</figcaption></figure>
<figure>{{.PR}}<figcaption>Precision-recall curve</figcaption></figure>
</div>
<h2>At alert rates</h2>
<table>
<tr><th>rate</th><th>threshold</th><th>alerts</th><th>actual rate</th><th>TP</th><th>FP</th><th>precision</th><th>recall</th></tr>
{{range .R.AlertRates}}<tr><td>{{pct .Rate}}</td><td>{{g6 .Threshold}}</td><td>{{.Alerts}}</td><td>{{pct .AlertRate}}</td><td>{{.TP}}</td><td>{{.FP}}</td><td>{{f4 .Precision}}</td><td>{{f4 .Recall}}</td></tr>
{{end}}</table>
{{if .Thresholds}}<h2>At thresholds</h2>
<table>
<tr><th>name</th><th>threshold</th><th>TP</th><th>FP</th><th>FN</th><th>TN</th><th>precision</th><th>recall</th><th>alert rate</th></tr>
{{range .Thresholds}}<tr><td class="name">{{.Name}}</td><td>{{g6 .Threshold}}</td><td>{{.TP}}</td><td>{{.FP}}</td><td>{{.FN}}</td><td>{{.TN}}</td><td>{{f4 .Precision}}</td><td>{{f4 .Recall}}</td><td>{{pct .AlertRate}}</td></tr>
{{end}}</table>
{{end}}{{if .R.PrecisionTargets}}<h2>Lowest threshold reaching a precision</h2>
<table>
<tr><th>target</th><th>threshold</th><th>precision</th><th>recall</th><th>alert rate</th></tr>
{{range .R.PrecisionTargets}}{{if .Found}}<tr><td>{{f4 .Target}}</td><td>{{g6 .Threshold}}</td><td>{{f4 .Precision}}</td><td>{{f4 .Recall}}</td><td>{{pct .AlertRate}}</td></tr>
{{else}}<tr><td>{{f4 .Target}}</td><td colspan="4" class="name">no threshold reaches it</td></tr>
{{end}}{{end}}</table>
{{end}}<h2>Score distribution</h2>
<table>
<tr><th>score</th><th>positives</th><th>negatives</th></tr>
{{range .Hist}}<tr><td class="name">{{.Label}}</td><td>{{.Pos}}</td><td>{{.Neg}}</td></tr>
{{end}}</table>
{{if .Reasons}}<h2>Reason codes</h2>
<table>
<tr><th>code</th><th>count</th></tr>
{{range .Reasons}}<tr><td class="name">{{.Code}}</td><td>{{.Count}}</td></tr>
{{end}}</table>
{{end}}</body>
</html>
`))

const chartSize = 4 * vg.Inch

var (
	curveColor = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	refColor   = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	markColor  = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
)

func (r *Report) rocSVG() (string, error) {
	xys := make(plotter.XYs, len(r.ROC))
	for i, p := range r.ROC {
		xys[i] = plotter.XY{X: p.FPR, Y: p.TPR}
	}
	var marks plotter.XYs
	for _, t := range r.Thresholds {
		marks = append(marks, plotter.XY{X: ratio(t.FP, t.FP+t.TN), Y: t.Recall})
	}
	p := unitPlot("ROC", "false positive rate", "true positive rate")
	return renderCurve(p, xys, plotter.XYs{{X: 0, Y: 0}, {X: 1, Y: 1}}, "chance", marks,
		fmt.Sprintf("AUC %.4f", r.ROCAUC))
}

func (r *Report) prSVG() (string, error) {
	xys := make(plotter.XYs, len(r.PR))
	for i, p := range r.PR {
		xys[i] = plotter.XY{X: p.Recall, Y: p.Precision}
	}
	var marks plotter.XYs
	for _, t := range r.Thresholds {
		if t.Alerts() > 0 {
			marks = append(marks, plotter.XY{X: t.Recall, Y: t.Precision})
		}
	}
	p := unitPlot("Precision-recall", "recall", "precision")
	p.Legend.Top = true
	return renderCurve(p, xys, plotter.XYs{{X: 0, Y: r.PositiveRate}, {X: 1, Y: r.PositiveRate}}, "positive rate", marks,
		fmt.Sprintf("AP %.4f", r.AveragePrecision))
}

func unitPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.X.Min, p.X.Max = 0, 1
	p.Y.Min, p.Y.Max = 0, 1
	p.Add(plotter.NewGrid())
	return p
}

// renderCurve adds the curve, a dashed reference line and the threshold
// marks to p and returns it as an SVG element, without the XML prolog so
// that it can sit inside HTML.
func renderCurve(p *plot.Plot, curve, ref plotter.XYs, refName string, marks plotter.XYs, name string) (string, error) {
	rl, err := plotter.NewLine(ref)
	if err != nil {
		return "", err
	}
	rl.Color = refColor
	rl.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	p.Add(rl)
	p.Legend.Add(refName, rl)
	if len(curve) > 0 {
		l, err := plotter.NewLine(curve)
		if err != nil {
			return "", err
		}
		l.Color = curveColor
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(name, l)
	}
	if len(marks) > 0 {
		s, err := plotter.NewScatter(marks)
		if err != nil {
			return "", err
		}
		s.GlyphStyle = draw.GlyphStyle{Color: markColor, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(s)
		p.Legend.Add("thresholds", s)
	}
	p.Legend.XOffs = -vg.Points(6) // keep the thumbnails inside the axes
	c := vgsvg.New(chartSize, chartSize)
	p.Draw(draw.New(c))
	var buf bytes.Buffer
	if _, err := c.WriteTo(&buf); err != nil {
		return "", err
	}
	svg := buf.Bytes()
	if i := bytes.Index(svg, []byte("<svg")); i >= 0 {
		svg = svg[i:]
	}
	return string(svg), nil
}
