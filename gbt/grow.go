package gbt

import (
	"math"
	"math/rand/v2"
	"slices"
)

// ghPair is one row's gradient and hessian of the weighted logistic loss.
type ghPair struct{ g, h float64 }

// histBin sums the gradients, hessians and row count of the rows of a node
// that fall in one bin of one feature. The count is a float64 so that
// histogram subtraction is one loop over one type.
type histBin struct{ g, h, n float64 }

// featHist is one feature's histogram. A fixed-size array indexed by a
// byte needs no bounds check in the hot loop.
type featHist [histStride]histBin

// minGain is the least gain a split needs on top of MinSplitGain: a split
// that gains less than rounding error only adds noise (XGBoost: kRtEps).
const minGain = 1e-6

// parallelRows is the least number of rows a histogram pass is split
// between goroutines for: below it, starting them and merging their
// histograms costs more than it saves.
const parallelRows = 8192

// grower grows one tree at a time on the binned table.
type grower struct {
	bd       *binned
	p        *Params
	gh       []ghPair // per row
	allRows  []int32
	rows     []int32 // this tree's rows, partitioned so that each node owns a range
	scratch  []int32
	feats    []int // this tree's features, ascending
	allFeats []int
	free     [][]featHist
	work     [][]featHist // a private histogram per extra goroutine
	losses   []float64
	partLeft []int // rows sent left by each goroutine of a partition

	nodes   []Node
	nodeBin []int    // split bin per node: left is bin <= nodeBin
	ranges  [][2]int // rows[lo:hi] of each node
}

func newGrower(bd *binned, p *Params, n int) *grower {
	g := &grower{bd: bd, p: p, gh: make([]ghPair, n), allRows: make([]int32, n), scratch: make([]int32, n)}
	for i := range g.allRows {
		g.allRows[i] = int32(i)
	}
	g.rows = make([]int32, 0, n)
	for j := 0; j < bd.nf; j++ {
		g.allFeats = append(g.allFeats, j)
	}
	g.work = make([][]featHist, p.Threads)
	for w := 1; w < p.Threads; w++ {
		g.work[w] = make([]featHist, bd.nf)
	}
	g.losses = make([]float64, p.Threads)
	g.partLeft = make([]int, p.Threads)
	return g
}

// gradients computes every row's gradient and hessian at margin and, if
// withLoss, returns the weighted mean logloss there (a log per row that
// only Progress needs; NaN without it).
func (g *grower) gradients(y, w, margin []float64, withLoss bool) float64 {
	clear(g.losses)
	parallelChunks(len(margin), g.p.Threads, func(part, lo, hi int) {
		var loss float64
		for i := lo; i < hi; i++ {
			z := margin[i]
			// p = sigmoid(z) and log(1+e^z) without overflow.
			e := math.Exp(-math.Abs(z))
			p := 1 / (1 + e)
			if z < 0 {
				p = e / (1 + e)
			}
			g.gh[i] = ghPair{g: (p - y[i]) * w[i], h: max(p*(1-p), 1e-16) * w[i]}
			if withLoss {
				loss += w[i] * (max(z, 0) - y[i]*z + math.Log1p(e))
			}
		}
		g.losses[part] = loss
	})
	if !withLoss {
		return math.NaN()
	}
	var loss, sw float64
	for _, l := range g.losses {
		loss += l
	}
	for _, x := range w {
		sw += x
	}
	return loss / sw
}

// sampleRows draws this tree's rows: each row with probability Subsample.
func (g *grower) sampleRows(rng *rand.Rand) []int32 {
	g.rows = g.rows[:0]
	if g.p.Subsample >= 1 {
		return append(g.rows, g.allRows...)
	}
	for _, r := range g.allRows {
		if rng.Float64() < g.p.Subsample {
			g.rows = append(g.rows, r)
		}
	}
	return g.rows
}

// sampleFeatures draws this tree's features: round(ColSample * features),
// at least one.
func (g *grower) sampleFeatures(rng *rand.Rand) {
	nf := g.bd.nf
	k := max(1, int(math.Round(g.p.ColSample*float64(nf))))
	if k >= nf {
		g.feats = g.allFeats
		return
	}
	g.feats = rng.Perm(nf)[:k]
	slices.Sort(g.feats)
}

func (g *grower) getHist() []featHist {
	if n := len(g.free); n > 0 {
		h := g.free[n-1]
		g.free = g.free[:n-1]
		return h
	}
	return make([]featHist, g.bd.nf)
}

func (g *grower) putHist(h []featHist) { g.free = append(g.free, h) }

// grow builds a tree on rows (which it reorders) and returns its nodes.
func (g *grower) grow(rows []int32) []Node {
	g.rows = rows
	g.nodes = make([]Node, 1, 2<<min(g.p.MaxDepth, 10))
	g.nodes[0] = Node{Feature: -1, Left: -1, Right: -1}
	g.nodeBin = g.nodeBin[:0]
	g.nodeBin = append(g.nodeBin, 0)
	g.ranges = append(g.ranges[:0], [2]int{0, len(rows)})
	if len(rows) == 0 {
		return g.nodes
	}
	h := g.getHist()
	g.build(rows, h)
	var tot histBin
	f := g.feats[0]
	for _, b := range &h[f] {
		tot.g += b.g
		tot.h += b.h
		tot.n += b.n
	}
	g.expand(0, 0, len(rows), 0, h, tot)
	return g.nodes
}

// split is a candidate split of a node.
type split struct {
	feat, bin int
	defLeft   bool
	gain      float64
	l, r      histBin
}

// expand makes node id a leaf or splits it and expands its children,
// depth first: the tree is the same as XGBoost's depth-wise growth (every
// node splits on its own best split until MaxDepth), and depth first keeps
// only about MaxDepth histograms alive. h is the node's histogram, which
// expand owns, and s its totals.
func (g *grower) expand(id, lo, hi, depth int, h []featHist, s histBin) {
	p := g.p
	g.nodes[id].Value = -s.g / (s.h + p.Lambda) * p.LearningRate
	g.nodes[id].Cover = s.h
	g.ranges[id] = [2]int{lo, hi}
	best, ok := g.bestSplit(h, s)
	if depth >= p.MaxDepth || !ok {
		g.putHist(h)
		return
	}
	mid := g.partition(lo, hi, best.feat, best.bin, best.defLeft)
	left := len(g.nodes)
	g.nodes[id].Feature = best.feat
	g.nodes[id].Threshold = g.bd.cuts[best.feat][best.bin]
	g.nodes[id].DefaultLeft = best.defLeft
	g.nodes[id].Left, g.nodes[id].Right = left, left+1
	g.nodes[id].Gain = best.gain
	g.nodeBin[id] = best.bin
	g.nodes = append(g.nodes, Node{Feature: -1, Left: -1, Right: -1}, Node{Feature: -1, Left: -1, Right: -1})
	g.nodeBin = append(g.nodeBin, 0, 0)
	g.ranges = append(g.ranges, [2]int{}, [2]int{})

	// A child gets a histogram only if it may split: the last level,
	// which has the most nodes, costs no histogram pass at all.
	if !g.splittable(depth+1, best.l) && !g.splittable(depth+1, best.r) {
		g.putHist(h)
		g.leaf(left, lo, mid, best.l)
		g.leaf(left+1, mid, hi, best.r)
		return
	}
	// Build the smaller child's histogram and get the larger's by
	// subtracting it from the parent's, in the parent's buffer.
	small := g.getHist()
	hl, hr := small, h
	if mid-lo <= hi-mid {
		g.build(g.rows[lo:mid], small)
	} else {
		g.build(g.rows[mid:hi], small)
		hl, hr = h, small
	}
	g.subtract(h, small)
	g.expand(left, lo, mid, depth+1, hl, best.l)
	g.expand(left+1, mid, hi, depth+1, hr, best.r)
}

func (g *grower) leaf(id, lo, hi int, s histBin) {
	g.nodes[id].Value = -s.g / (s.h + g.p.Lambda) * g.p.LearningRate
	g.nodes[id].Cover = s.h
	g.ranges[id] = [2]int{lo, hi}
}

// splittable reports whether a node at depth with totals s may still split.
func (g *grower) splittable(depth int, s histBin) bool {
	p := g.p
	return depth < p.MaxDepth && s.n >= float64(2*p.MinSamplesLeaf) && s.h >= 2*p.MinChildWeight
}

// bestSplit finds the split of the node with histogram h and totals s of
// highest gain, trying both ways for the rows missing the feature. When
// the node has no missing value of a feature, missing values at prediction
// follow the side with the larger cover, the likelier guess.
func (g *grower) bestSplit(h []featHist, s histBin) (split, bool) {
	p := g.p
	if s.n < float64(2*p.MinSamplesLeaf) || s.h < 2*p.MinChildWeight {
		return split{}, false
	}
	lambda := p.Lambda
	parent := s.g * s.g / (s.h + lambda)
	minN := float64(p.MinSamplesLeaf)
	best := split{gain: max(p.MinSplitGain, minGain)}
	found := false
	try := func(f, b int, l, r histBin, defLeft bool) {
		if l.n < minN || r.n < minN || l.h < p.MinChildWeight || r.h < p.MinChildWeight {
			return
		}
		dl, dr := l.h+lambda, r.h+lambda
		if !(dl > 0 && dr > 0) {
			return
		}
		gain := l.g*l.g/dl + r.g*r.g/dr - parent
		if gain > best.gain {
			best = split{feat: f, bin: b, defLeft: defLeft, gain: gain, l: l, r: r}
			found = true
		}
	}
	for _, f := range g.feats {
		nb := len(g.bd.cuts[f]) + 1
		if nb < 2 {
			continue
		}
		hb := &h[f]
		miss := hb[missingBin]
		var l histBin
		for b := 0; b < nb-1; b++ {
			l.g += hb[b].g
			l.h += hb[b].h
			l.n += hb[b].n
			r := histBin{s.g - miss.g - l.g, s.h - miss.h - l.h, s.n - miss.n - l.n}
			if miss.n == 0 {
				try(f, b, l, r, l.h >= r.h)
				continue
			}
			try(f, b, l, histBin{r.g + miss.g, r.h + miss.h, r.n + miss.n}, false)
			try(f, b, histBin{l.g + miss.g, l.h + miss.h, l.n + miss.n}, r, true)
		}
	}
	return best, found
}

// partition reorders rows[lo:hi] so that the rows going left come first,
// keeping their order (ascending row numbers walk the table forward), and
// returns where the right side starts. A large range is cut into one chunk
// per goroutine, each partitioned on its own, and the pieces are then put
// together with copies.
func (g *grower) partition(lo, hi, f, bin int, defLeft bool) int {
	rows, scratch := g.rows[lo:hi], g.scratch[lo:hi]
	n := len(rows)
	workers := min(g.p.Threads, n/(parallelRows/2))
	if workers <= 1 {
		k := g.partitionChunk(rows, scratch, f, bin, defLeft)
		copy(rows[k:], scratch[:n-k])
		return lo + k
	}
	parallelChunks(n, workers, func(part, a, b int) {
		g.partLeft[part] = g.partitionChunk(rows[a:b], scratch[a:b], f, bin, defLeft)
	})
	// Chunk w's left rows are at the start of its range in rows, its
	// right rows at the start of its range in scratch. Moving the left
	// rows down never overwrites a later chunk's: they only shrink.
	pos := 0
	for w := range workers {
		a := n * w / workers
		pos += copy(rows[pos:], rows[a:a+g.partLeft[w]])
	}
	mid := pos
	for w := range workers {
		a, b := n*w/workers, n*(w+1)/workers
		pos += copy(rows[pos:], scratch[a:a+(b-a-g.partLeft[w])])
	}
	return lo + mid
}

// partitionChunk moves the rows going left to the front of rows, in
// order, and the others to the front of scratch; it returns how many went
// left.
func (g *grower) partitionChunk(rows, scratch []int32, f, bin int, defLeft bool) int {
	nf, bins := g.bd.nf, g.bd.bins
	k, r := 0, 0
	for _, row := range rows {
		b := bins[int(row)*nf+f]
		left := int(b) <= bin
		if b == missingBin {
			left = defLeft
		}
		if left {
			rows[k] = row
			k++
		} else {
			scratch[r] = row
			r++
		}
	}
	return k
}

// build fills out with the histogram of the rows of seg, over this tree's
// features, split by row ranges between goroutines that each fill a
// private histogram; the parts are added up in a fixed order so that a
// given Threads gives the same model every time.
func (g *grower) build(seg []int32, out []featHist) {
	g.clear(out)
	workers := min(g.p.Threads, len(seg)/(parallelRows/2))
	if workers <= 1 {
		g.accumulate(seg, out)
		return
	}
	parallelChunks(len(seg), workers, func(part, lo, hi int) {
		if part == 0 {
			g.accumulate(seg[lo:hi], out)
			return
		}
		g.clear(g.work[part])
		g.accumulate(seg[lo:hi], g.work[part])
	})
	for w := 1; w < workers; w++ {
		src := g.work[w]
		for _, f := range g.feats {
			o, s := &out[f], &src[f]
			for i := range o {
				o[i].g += s[i].g
				o[i].h += s[i].h
				o[i].n += s[i].n
			}
		}
	}
}

func (g *grower) clear(h []featHist) {
	if len(g.feats) == g.bd.nf {
		clear(h)
		return
	}
	for _, f := range g.feats {
		h[f] = featHist{}
	}
}

// accumulate is the hot loop of training.
func (g *grower) accumulate(seg []int32, out []featHist) {
	nf, bins, gh := g.bd.nf, g.bd.bins, g.gh
	out = out[:nf]
	if len(g.feats) == nf {
		for _, r := range seg {
			p := gh[r]
			row := bins[int(r)*nf : int(r)*nf+nf]
			o := out[:len(row)]
			for f, b := range row {
				e := &o[f][b]
				e.g += p.g
				e.h += p.h
				e.n++
			}
		}
		return
	}
	feats := g.feats
	for _, r := range seg {
		p := gh[r]
		row := bins[int(r)*nf : int(r)*nf+nf]
		for _, f := range feats {
			e := &out[f][row[f]]
			e.g += p.g
			e.h += p.h
			e.n++
		}
	}
}

// subtract sets parent to parent - child over this tree's features.
func (g *grower) subtract(parent, child []featHist) {
	for _, f := range g.feats {
		p, c := &parent[f], &child[f]
		for i := range p {
			p[i].g -= c[i].g
			p[i].h -= c[i].h
			p[i].n -= c[i].n
		}
	}
}

// updateMargins adds the tree's output to every training row's margin.
// With all rows in the tree, the leaves' row ranges say where each row
// went; otherwise rows outside the sample are sent down the tree by their
// bins.
func (g *grower) updateMargins(tree []Node, rows []int32, margin []float64) {
	if len(rows) == len(margin) {
		for id := range tree {
			if !tree[id].IsLeaf() {
				continue
			}
			v := tree[id].Value
			for _, r := range rows[g.ranges[id][0]:g.ranges[id][1]] {
				margin[r] += v
			}
		}
		return
	}
	nf, bins := g.bd.nf, g.bd.bins
	parallelChunks(len(margin), g.p.Threads, func(_, lo, hi int) {
		for i := lo; i < hi; i++ {
			row := bins[i*nf : i*nf+nf]
			j := 0
			for !tree[j].IsLeaf() {
				n := &tree[j]
				b := row[n.Feature]
				switch {
				case b == missingBin:
					if n.DefaultLeft {
						j = n.Left
					} else {
						j = n.Right
					}
				case int(b) <= g.nodeBin[j]:
					j = n.Left
				default:
					j = n.Right
				}
			}
			margin[i] += tree[j].Value
		}
	})
}

// parallelChunks runs fn on parts contiguous ranges of [0,n), part 0 on
// the calling goroutine.
func parallelChunks(n, parts int, fn func(part, lo, hi int)) {
	parts = max(1, min(parts, n))
	if parts == 1 {
		fn(0, 0, n)
		return
	}
	done := make(chan struct{}, parts-1)
	for w := 1; w < parts; w++ {
		lo, hi := n*w/parts, n*(w+1)/parts
		go func() {
			defer func() { done <- struct{}{} }()
			fn(w, lo, hi)
		}()
	}
	fn(0, 0, n/parts)
	for w := 1; w < parts; w++ {
		<-done
	}
}
