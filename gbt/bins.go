package gbt

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
)

// A bin index fits a byte: up to MaxBins bins of values (0..MaxBins-1) and
// one more, missingBin, for NaN. That is why MaxBins is 255 and not 256.
const (
	MaxBins    = 255
	missingBin = 255
	histStride = 256 // histogram slots per feature: the value bins and the missing bin
)

// cutPoints returns at most bins-1 strictly increasing thresholds over the
// non-missing values of col at the rows of sample (all rows when sample is
// nil). A value x falls in bin i when cuts[i-1] <= x < cuts[i], so a split
// "x < cuts[i]" sends bins 0..i left: prediction compares raw values with
// these same numbers and needs no binning.
//
// When there are few distinct values, every gap between two of them gets a
// cut, placed halfway so that an unseen value in between goes to the nearer
// side. Otherwise the cuts are quantiles: each bin gets about an equal share
// of the values left after the previous cuts, so that one very frequent
// value (0 in most count features) takes a bin of its own without starving
// the others of bins.
func cutPoints(col []float64, sample []int32, bins int, buf []float64) []float64 {
	vals := buf[:0]
	if sample == nil {
		for _, x := range col {
			if !math.IsNaN(x) {
				vals = append(vals, x)
			}
		}
	} else {
		for _, r := range sample {
			if x := col[r]; !math.IsNaN(x) {
				vals = append(vals, x)
			}
		}
	}
	if len(vals) == 0 {
		return nil
	}
	slices.Sort(vals)

	// Distinct values and their counts, in place of the sorted values.
	distinct := make([]float64, 0, 64)
	counts := make([]int, 0, 64)
	for i, x := range vals {
		if i == 0 || x != vals[i-1] {
			distinct = append(distinct, x)
			counts = append(counts, 0)
		}
		counts[len(counts)-1]++
	}

	if len(distinct) <= bins {
		cuts := make([]float64, 0, len(distinct)-1)
		for i := 1; i < len(distinct); i++ {
			cuts = append(cuts, midpoint(distinct[i-1], distinct[i]))
		}
		return cuts
	}
	cuts := make([]float64, 0, bins-1)
	rest, binsLeft, acc := len(vals), bins, 0
	per := float64(rest) / float64(binsLeft)
	for i := 0; i < len(distinct)-1 && len(cuts) < bins-1; i++ {
		acc += counts[i]
		if float64(acc) >= per {
			cuts = append(cuts, midpoint(distinct[i], distinct[i+1]))
			rest -= acc
			acc = 0
			binsLeft--
			per = float64(rest) / float64(binsLeft)
		}
	}
	return cuts
}

// midpoint returns a threshold t with a < t <= b (a < b): halfway when that
// is representable, else b itself.
func midpoint(a, b float64) float64 {
	m := a/2 + b/2
	if m > a && m <= b {
		return m
	}
	return b
}

// binOf returns the bin of x given its feature's cuts.
func binOf(x float64, cuts []float64) uint8 {
	if math.IsNaN(x) {
		return missingBin
	}
	// The first cut above x; sort.Search avoids a closure allocation here.
	return uint8(sort.Search(len(cuts), func(i int) bool { return cuts[i] > x }))
}

// binned is the training table cut into bins, row-major: bins[i*nf+j] is
// the bin of feature j in row i. Row-major because a histogram pass reads
// every feature of the rows of one node, which are scattered through the
// table once the tree is a few levels deep: one cache line per row instead
// of one per row and feature.
type binned struct {
	nf   int
	bins []uint8
	cuts [][]float64
}

// binDataset computes the cuts from at most sampleRows rows (drawn with
// rng) and bins every row, spreading the features over workers goroutines.
func binDataset(d *Dataset, bins, sampleRows, workers int, rng *rand.Rand) *binned {
	n, nf := d.Rows(), len(d.Cols)
	var sample []int32
	if sampleRows > 0 && n > sampleRows {
		// A random subset, sorted so that reading it walks the columns
		// forward.
		perm := rng.Perm(n)[:sampleRows]
		sample = make([]int32, sampleRows)
		for i, r := range perm {
			sample[i] = int32(r)
		}
		slices.Sort(sample)
	}
	b := &binned{nf: nf, bins: make([]uint8, n*nf), cuts: make([][]float64, nf)}
	parallelChunks(nf, workers, func(_, lo, hi int) {
		buf := make([]float64, 0, n)
		if sample != nil {
			buf = make([]float64, 0, len(sample))
		}
		for j := lo; j < hi; j++ {
			cuts := cutPoints(d.Cols[j], sample, bins, buf)
			b.cuts[j] = cuts
			col := d.Cols[j]
			for i, x := range col {
				b.bins[i*nf+j] = binOf(x, cuts)
			}
		}
	})
	return b
}
