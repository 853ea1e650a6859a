package gbt

import (
	"math"
	"slices"
)

// AUC returns the area under the ROC curve of scores for labels (0 or 1),
// weighted by weights when not nil: the probability that a random positive
// scores above a random negative, ties counting half. It is NaN when one
// class is absent.
func AUC(labels, scores, weights []float64) float64 {
	idx := make([]int, len(scores))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(a, b int) int {
		switch {
		case scores[a] < scores[b]:
			return -1
		case scores[a] > scores[b]:
			return 1
		}
		return 0
	})
	w := func(i int) float64 {
		if weights == nil {
			return 1
		}
		return weights[i]
	}
	// Walk groups of equal scores upward: each positive in a group beats
	// the negatives below it and ties half of those in the group.
	var negBelow, area, pos, neg float64
	for i := 0; i < len(idx); {
		j := i
		var gp, gn float64
		for ; j < len(idx) && scores[idx[j]] == scores[idx[i]]; j++ {
			if labels[idx[j]] == 1 {
				gp += w(idx[j])
			} else {
				gn += w(idx[j])
			}
		}
		area += gp * (negBelow + gn/2)
		negBelow += gn
		pos += gp
		neg += gn
		i = j
	}
	if pos == 0 || neg == 0 {
		return math.NaN()
	}
	return area / (pos * neg)
}

// LogLoss returns the (weighted) mean negative log-likelihood of
// probabilities probs for labels, with probabilities clipped to
// [1e-15, 1-1e-15] as the usual implementations do.
func LogLoss(labels, probs, weights []float64) float64 {
	var sum, sw float64
	for i, p := range probs {
		p = min(max(p, 1e-15), 1-1e-15)
		w := 1.0
		if weights != nil {
			w = weights[i]
		}
		if labels[i] == 1 {
			sum -= w * math.Log(p)
		} else {
			sum -= w * math.Log(1-p)
		}
		sw += w
	}
	return sum / sw
}
