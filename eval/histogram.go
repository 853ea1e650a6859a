package eval

// Histogram counts scores by label in equal bins over [0, 1]. Bin i holds
// the scores in [Edges[i], Edges[i+1]), the last bin also 1; scores below
// 0 count in the first bin, above 1 in the last, and NaN in none.
type Histogram struct {
	Edges     []float64 `json:"edges"`
	Positives []int     `json:"positives"`
	Negatives []int     `json:"negatives"`
}

// DefaultHistogramBins is how many bins ScoreHistogram makes when asked for 0.
const DefaultHistogramBins = 20

// ScoreHistogram counts scores by label in bins equal bins over [0, 1]
// (0: DefaultHistogramBins).
func ScoreHistogram(scores []float64, labels []bool, bins int) Histogram {
	mustMatch(scores, labels)
	if bins <= 0 {
		bins = DefaultHistogramBins
	}
	h := Histogram{Edges: make([]float64, bins+1), Positives: make([]int, bins), Negatives: make([]int, bins)}
	for i := range h.Edges {
		h.Edges[i] = float64(i) / float64(bins)
	}
	for i, s := range scores {
		if s != s { // NaN
			continue
		}
		b := 0
		switch {
		case s >= 1:
			b = bins - 1
		case s > 0:
			b = min(int(s*float64(bins)), bins-1)
		}
		if labels[i] {
			h.Positives[b]++
		} else {
			h.Negatives[b]++
		}
	}
	return h
}
