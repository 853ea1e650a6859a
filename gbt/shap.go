package gbt

// SHAP splits Margin(x) into per-feature SHAP values by the path-dependent
// TreeSHAP algorithm (Lundberg, Erion and Lee 2018, "Consistent
// Individualized Feature Attribution for Tree Ensembles", Algorithm 2):
// the Shapley values of the game whose value for a set S of known features
// is the trees' expected output when only S is known, the others averaged
// over the training data as the covers weigh them. Unlike Contributions
// (path attribution), a feature's share does not depend on where in the
// tree it is split on. out must have len(Features) elements; it is
// overwritten. bias (ExpectedMargin) + sum(out) equals Margin(x) up to
// float rounding.
//
// It costs O(leaves x depth^2) per tree, against O(depth) for
// Contributions, and allocates one scratch buffer: the hot path uses
// Contributions.
func (m *Model) SHAP(x []float64, out []float64) (bias float64) {
	_ = x[len(m.Features)-1]
	out = out[:len(m.Features)]
	clear(out)
	depth := 0
	for _, t := range m.Trees {
		depth = max(depth, treeDepth(t.Nodes, 0))
	}
	// One path per recursion level, each at most depth+2 long.
	s := &shapState{m: m, x: x, out: out, buf: make([]pathElem, (depth+2)*(depth+3))}
	for ti, r := range m.roots {
		s.tree = m.Trees[ti].Nodes
		s.base = int(r)
		s.recurse(0, 0, 0, 1, 1, -1)
	}
	return m.ExpectedMargin()
}

func treeDepth(nodes []Node, i int) int {
	if nodes[i].IsLeaf() {
		return 0
	}
	return 1 + max(treeDepth(nodes, nodes[i].Left), treeDepth(nodes, nodes[i].Right))
}

// pathElem is one feature on the path to a node: the fraction of the
// "zero" paths (feature unknown: cover-weighted) and "one" paths (feature
// known: x's way) that flow through, and the weight of the subsets of
// each size.
type pathElem struct {
	feat int
	z, o float64
	w    float64
}

type shapState struct {
	m    *Model
	x    []float64
	out  []float64
	tree []Node
	base int // the tree's offset in m.nodes
	buf  []pathElem
}

// recurse visits node j with the parent's path of length plen stored at
// buf[off:], extending it by feature pi with fractions pz, po.
func (s *shapState) recurse(j, off, plen int, pz, po float64, pi int) {
	// Copy the parent's path to this level's slot and extend it.
	next := off + plen + 1
	path := s.buf[next : next+plen+1]
	copy(path, s.buf[off:off+plen])
	extend(path, plen, pz, po, pi)
	plen++
	n := &s.tree[j]
	if n.IsLeaf() {
		for i := 1; i < plen; i++ {
			w := unwoundSum(path, plen, i)
			e := &path[i]
			s.out[e.feat] += w * (e.o - e.z) * n.Value
		}
		return
	}
	hot, cold := n.Left, n.Right
	if !goesLeft(n, s.x[n.Feature]) {
		hot, cold = cold, hot
	}
	iz, io := 1.0, 1.0
	// A feature split on again: undo its earlier entry and carry its
	// fractions into this split.
	for k := 1; k < plen; k++ {
		if path[k].feat == n.Feature {
			iz, io = path[k].z, path[k].o
			unwind(path, plen, k)
			plen--
			break
		}
	}
	ch, cc := s.tree[hot].Cover, s.tree[cold].Cover
	rh, rc := 0.5, 0.5
	if c := ch + cc; c > 0 {
		rh, rc = ch/c, cc/c
	}
	// Each child copies the path, so both start from this node's.
	s.recurse(hot, next, plen, iz*rh, io, n.Feature)
	s.recurse(cold, next, plen, iz*rc, 0, n.Feature)
}

func goesLeft(n *Node, v float64) bool {
	switch {
	case v < n.Threshold:
		return true
	case v >= n.Threshold:
		return false
	}
	return n.DefaultLeft
}

// extend appends (pi, pz, po) to the path of length l in p (which has room
// for l+1) and updates the subset-size weights.
func extend(p []pathElem, l int, pz, po float64, pi int) {
	w := 0.0
	if l == 0 {
		w = 1
	}
	p[l] = pathElem{feat: pi, z: pz, o: po, w: w}
	for i := l - 1; i >= 0; i-- {
		p[i+1].w += po * p[i].w * float64(i+1) / float64(l+1)
		p[i].w = pz * p[i].w * float64(l-i) / float64(l+1)
	}
}

// unwind removes element i from the path of length l in place, undoing
// its extend.
func unwind(p []pathElem, l, i int) {
	z, o := p[i].z, p[i].o
	n := p[l-1].w
	for j := l - 2; j >= 0; j-- {
		if o != 0 {
			t := p[j].w
			p[j].w = n * float64(l) / (float64(j+1) * o)
			n = t - p[j].w*z*float64(l-j-1)/float64(l)
		} else {
			p[j].w = p[j].w * float64(l) / (z * float64(l-j-1))
		}
	}
	for j := i; j < l-1; j++ {
		p[j].feat, p[j].z, p[j].o = p[j+1].feat, p[j+1].z, p[j+1].o
	}
}

// unwoundSum is the total weight of the path of length l with element i
// removed, without changing the path.
func unwoundSum(p []pathElem, l, i int) float64 {
	z, o := p[i].z, p[i].o
	n := p[l-1].w
	total := 0.0
	for j := l - 2; j >= 0; j-- {
		if o != 0 {
			w := n * float64(l) / (float64(j+1) * o)
			total += w
			n = p[j].w - w*z*float64(l-j-1)/float64(l)
		} else {
			total += p[j].w * float64(l) / (z * float64(l-j-1))
		}
	}
	return total
}
