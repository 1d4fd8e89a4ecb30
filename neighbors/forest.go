package neighbors

import (
	"math"
	"math/rand/v2"
	"slices"
)

// Angular random-projection trees, in the spirit of Annoy: a node's items are
// split by the hyperplane through the origin that bisects two centroids found
// by a short two-means (spherical k-means with k=2) on a small sample, until
// leaves hold at most leafSize items. Items sharing a leaf are likely close,
// so leaves seed every item's candidate list.

const (
	splitSample = 32 // items the two-means looks at per node
	splitIters  = 4  // two-means iterations
)

// tree is one tree's leaves: the items permuted so that each leaf is a run.
type tree struct {
	items  []int32
	bounds []int32 // leaf t is items[bounds[t]:bounds[t+1]]
}

func (t *tree) leaves() int        { return len(t.bounds) - 1 }
func (t *tree) leaf(i int) []int32 { return t.items[t.bounds[i]:t.bounds[i+1]] }

// treeBuilder holds one tree's scratch space.
type treeBuilder struct {
	m       *matrix
	leaf    int
	rng     *rand.Rand
	c0, c1  []float32
	normal  []float32
	next    []float32
	margins []float32
	// sampleMargins holds the two-means sample's projections.
	sampleMargins []float32
	sample        []int32
	out           *tree
}

// buildTree splits items (copied) into leaves of at most leafSize.
func (m *matrix) buildTree(items []int32, leafSize int, seed uint64) *tree {
	b := &treeBuilder{
		m:             m,
		leaf:          max(2, leafSize),
		rng:           rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15)),
		c0:            make([]float32, m.dims),
		c1:            make([]float32, m.dims),
		normal:        make([]float32, m.dims),
		next:          make([]float32, m.dims),
		margins:       make([]float32, len(items)),
		sampleMargins: make([]float32, splitSample),
		out:           &tree{items: slices.Clone(items), bounds: []int32{0}},
	}
	b.split(0, len(items))
	return b.out
}

// split recursively divides out.items[lo:hi].
func (b *treeBuilder) split(lo, hi int) {
	n := hi - lo
	if n <= b.leaf {
		b.out.bounds = append(b.out.bounds, int32(hi))
		return
	}
	items := b.out.items[lo:hi]
	margins := b.margins[lo:hi]
	b.hyperplane(items)
	b.m.project(b.normal, items, margins)
	mid := partition(items, margins, 0)
	if small := min(mid, n-mid); small < n/20+1 {
		// Degenerate split (e.g. many identical vectors): cut at the median
		// of the projections, or at random if they are all equal.
		mid = n / 2
		med := quickselect(slices.Clone(margins), mid, b.rng)
		mid = partition(items, margins, med)
		if mid == 0 || mid == n {
			b.rng.Shuffle(n, func(i, j int) {
				items[i], items[j] = items[j], items[i]
			})
			mid = n / 2
		}
	}
	b.split(lo, lo+mid)
	b.split(lo+mid, hi)
}

// hyperplane sets b.normal to c0-c1 after a short two-means on a sample.
func (b *treeBuilder) hyperplane(items []int32) {
	s := b.sample[:0]
	for range min(splitSample, len(items)) {
		s = append(s, items[b.rng.IntN(len(items))])
	}
	b.sample = s
	c0, c1 := b.m.rows[s[0]], b.m.rows[s[1]]
	for _, x := range s[1:] {
		if Dot(b.m.rows[x], c0) < 0.9999 {
			c1 = b.m.rows[x]
			break
		}
	}
	for i := range b.normal {
		b.normal[i] = c0[i] - c1[i]
	}
	// Assigning a point to the nearer (by cosine) of two unit centroids is the
	// sign of its projection on their difference; the two sums add up to the
	// sample's total, so only one needs accumulating.
	total := b.c1
	clear(total)
	for _, x := range s {
		addTo(total, b.m.rows[x])
	}
	margins := b.sampleMargins[:len(s)]
	for range splitIters {
		b.m.project(b.normal, s, margins)
		sum0 := b.c0
		clear(sum0)
		n0 := 0
		for t, x := range s {
			if margins[t] >= 0 {
				addTo(sum0, b.m.rows[x])
				n0++
			}
		}
		if n0 == 0 || n0 == len(s) {
			break
		}
		sum1 := b.next
		for i := range sum1 {
			sum1[i] = total[i] - sum0[i]
		}
		normalizeVec(sum0)
		normalizeVec(sum1)
		for i := range b.normal {
			b.normal[i] = sum0[i] - sum1[i]
		}
	}
}

// project sets out[t] = v·row(items[t]).
func (m *matrix) project(v []float32, items []int32, out []float32) {
	var x [4][]float32
	var res [4]float32
	for c := 0; c < len(items); c += 4 {
		for j := range 4 {
			x[j] = m.rows[items[min(c+j, len(items)-1)]]
		}
		dot1x4(v, x, &res)
		copy(out[c:min(c+4, len(items))], res[:])
	}
}

// partition moves items with margin > pivot to the front (keeping margins in
// step) and returns how many there are.
func partition(items []int32, margins []float32, pivot float32) int {
	i, j := 0, len(items)-1
	for i <= j {
		if margins[i] > pivot {
			i++
			continue
		}
		items[i], items[j] = items[j], items[i]
		margins[i], margins[j] = margins[j], margins[i]
		j--
	}
	return i
}

// quickselect returns the value that would sit at index k (descending order)
// of xs, reordering xs.
func quickselect(xs []float32, k int, rng *rand.Rand) float32 {
	lo, hi := 0, len(xs)-1
	for lo < hi {
		p := xs[lo+rng.IntN(hi-lo+1)]
		i, j := lo, hi
		for i <= j {
			for xs[i] > p {
				i++
			}
			for xs[j] < p {
				j--
			}
			if i <= j {
				xs[i], xs[j] = xs[j], xs[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return xs[k]
		}
	}
	return xs[k]
}

func addTo(dst, v []float32) {
	dst = dst[:len(v)]
	i := 0
	for ; i+4 <= len(v); i += 4 {
		dst[i] += v[i]
		dst[i+1] += v[i+1]
		dst[i+2] += v[i+2]
		dst[i+3] += v[i+3]
	}
	for ; i < len(v); i++ {
		dst[i] += v[i]
	}
}

func normalizeVec(v []float32) {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	if s == 0 {
		return
	}
	inv := float32(1 / math.Sqrt(s))
	for i := range v {
		v[i] *= inv
	}
}
