package gbt

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestCutPoints(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		col  []float64
		bins int
		want []float64
	}{
		{"few distinct values: a cut halfway between each pair", []float64{3, 1, 2, 1, 3, nan}, 255, []float64{1.5, 2.5}},
		{"one value: no cut", []float64{4, 4, 4}, 255, []float64{}},
		{"all missing: no cut", []float64{nan, nan}, 255, nil},
		{"adjacent floats: the cut is the upper value", []float64{1, math.Nextafter(1, 2)}, 255, []float64{math.Nextafter(1, 2)}},
		{"more values than bins: quantiles", []float64{1, 2, 3, 4, 5, 6, 7, 8}, 4, []float64{2.5, 4.5, 6.5}},
		{"a heavy value gets a bin of its own and the rest share the others", []float64{0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6}, 4, []float64{0.5, 2.5, 4.5}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := cutPoints(c.col, nil, c.bins, nil)
			if !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
				t.Errorf("cutPoints = %v, want %v", got, c.want)
			}
		})
	}
}

func TestCutPointsOnContinuousDataAreIncreasingAndBalanced(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	col := make([]float64, 100000)
	for i := range col {
		col[i] = rng.ExpFloat64()
	}
	for _, bins := range []int{2, 16, 255} {
		cuts := cutPoints(col, nil, bins, nil)
		if len(cuts) != bins-1 {
			t.Errorf("bins %d: %d cuts, want %d", bins, len(cuts), bins-1)
		}
		counts := make([]int, bins)
		for _, x := range col {
			counts[binOf(x, cuts)]++
		}
		for b, n := range counts {
			if want := len(col) / bins; n < want/2 || n > want*2 {
				t.Errorf("bins %d: bin %d holds %d values, want about %d", bins, b, n, want)
			}
		}
		if !slices.IsSorted(cuts) || slices.Compact(slices.Clone(cuts)) == nil || len(slices.Compact(slices.Clone(cuts))) != len(cuts) {
			t.Errorf("bins %d: cuts not strictly increasing", bins)
		}
	}
}

func TestBinOfAgreesWithTheThresholds(t *testing.T) {
	// A row goes left of "x < cuts[b]" exactly when its bin is <= b: the
	// trainer splits on bins and prediction compares raw values.
	cuts := []float64{-1, 0, 2.5}
	for _, x := range []float64{-3, -1, -0.5, 0, 1, 2.5, 7} {
		bin := int(binOf(x, cuts))
		for b, c := range cuts {
			if (x < c) != (bin <= b) {
				t.Errorf("x %v: bin %d, but x < cuts[%d]=%v is %v", x, bin, b, c, x < c)
			}
		}
	}
	if binOf(math.NaN(), cuts) != missingBin {
		t.Error("NaN is not in the missing bin")
	}
}

func TestBinSampleDrawsCutsFromASubset(t *testing.T) {
	d := table(5000, 2, 1, func([]float64) float64 { return 0.5 })
	bd := binDataset(d, 16, 1000, 2, rand.New(rand.NewPCG(1, 1)))
	for j, cuts := range bd.cuts {
		if len(cuts) != 15 {
			t.Errorf("feature %d: %d cuts, want 15", j, len(cuts))
		}
		for i := 0; i < d.Rows(); i++ {
			if got := bd.bins[i*bd.nf+j]; got != binOf(d.Cols[j][i], cuts) {
				t.Fatalf("row %d feature %d: bin %d, want %d", i, j, got, binOf(d.Cols[j][i], cuts))
			}
		}
	}
}
