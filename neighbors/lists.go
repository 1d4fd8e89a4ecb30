package neighbors

import "math"

// lists holds every item's current top-K as fixed-size rows, most similar
// first. It is the one mutable structure of the search: the exact scan, the
// forest's leaves and the refinement rounds all only offer it candidates.
type lists struct {
	k     int
	ids   *[]string // tie-break: equal scores are ordered by id
	idx   []int32   // n*k neighbour indices
	sim   []float32 // n*k cosine similarities
	stamp []int32   // n*k round that inserted the entry; -1 once joined ("old")
	count []int32   // entries used per row
}

func newLists(n, k int, ids *[]string) *lists {
	return &lists{
		k:     k,
		ids:   ids,
		idx:   make([]int32, n*k),
		sim:   make([]float32, n*k),
		stamp: make([]int32, n*k),
		count: make([]int32, n),
	}
}

// grow adds empty rows so the lists cover n items, reallocating once.
func (l *lists) grow(n int) {
	if n <= len(l.count) {
		return
	}
	add := n - len(l.count)
	l.count = append(l.count, make([]int32, add)...)
	l.idx = append(l.idx, make([]int32, add*l.k)...)
	l.sim = append(l.sim, make([]float32, add*l.k)...)
	l.stamp = append(l.stamp, make([]int32, add*l.k)...)
}

// floor is the score a candidate must beat to enter row i (-Inf while the row
// is not full). Equal scores may still enter on a smaller id.
func (l *lists) floor(i int32) float32 {
	if int(l.count[i]) < l.k {
		return float32(math.Inf(-1))
	}
	return l.sim[int(i)*l.k+l.k-1]
}

// floorAt is the score a candidate must beat to enter the first k entries
// of row i (k ≤ l.k): the reported top-K, as opposed to the working list.
func (l *lists) floorAt(i int32, k int) float32 {
	if int(l.count[i]) < k {
		return float32(math.Inf(-1))
	}
	return l.sim[int(i)*l.k+k-1]
}

// better reports whether (s1, j1) ranks before (s2, j2).
func (l *lists) better(s1 float32, j1 int32, s2 float32, j2 int32) bool {
	if s1 != s2 {
		return s1 > s2
	}
	ids := *l.ids
	return ids[j1] < ids[j2]
}

// insert offers j with score s to row i, tagged with round; it reports
// whether the row changed. Duplicates are ignored.
func (l *lists) insert(i, j int32, s float32, round int32) bool {
	base := int(i) * l.k
	n := int(l.count[i])
	if n == l.k && !l.better(s, j, l.sim[base+n-1], l.idx[base+n-1]) {
		return false
	}
	pos := n
	for t := 0; t < n; t++ {
		if l.idx[base+t] == j {
			return false
		}
		if pos == n && l.better(s, j, l.sim[base+t], l.idx[base+t]) {
			pos = t
		}
	}
	if n < l.k {
		n++
		l.count[i] = int32(n)
	}
	copy(l.idx[base+pos+1:base+n], l.idx[base+pos:base+n-1])
	copy(l.sim[base+pos+1:base+n], l.sim[base+pos:base+n-1])
	copy(l.stamp[base+pos+1:base+n], l.stamp[base+pos:base+n-1])
	l.idx[base+pos], l.sim[base+pos], l.stamp[base+pos] = j, s, round
	return true
}

// row returns row i's neighbour indices and scores.
func (l *lists) row(i int32) ([]int32, []float32) {
	base := int(i) * l.k
	n := int(l.count[i])
	return l.idx[base : base+n], l.sim[base : base+n]
}

// clearRow empties row i.
func (l *lists) clearRow(i int32) { l.count[i] = 0 }

// removeIf drops the entries of row i whose neighbour satisfies drop.
func (l *lists) removeIf(i int32, drop func(j int32) bool) {
	base := int(i) * l.k
	n := int(l.count[i])
	w := base
	for r := base; r < base+n; r++ {
		if drop(l.idx[r]) {
			continue
		}
		l.idx[w], l.sim[w], l.stamp[w] = l.idx[r], l.sim[r], l.stamp[r]
		w++
	}
	l.count[i] = int32(w - base)
}

// shrink keeps the first k entries of every row (k ≤ l.k) in new, smaller
// arrays, so the wider working lists' memory can be freed.
func (l *lists) shrink(k int) {
	if k >= l.k {
		return
	}
	n := len(l.count)
	idx := make([]int32, n*k)
	sim := make([]float32, n*k)
	stamp := make([]int32, n*k)
	for i := range n {
		c := min(int(l.count[i]), k)
		copy(idx[i*k:], l.idx[i*l.k:i*l.k+c])
		copy(sim[i*k:], l.sim[i*l.k:i*l.k+c])
		copy(stamp[i*k:], l.stamp[i*l.k:i*l.k+c])
		l.count[i] = int32(c)
	}
	l.k, l.idx, l.sim, l.stamp = k, idx, sim, stamp
}

// widen makes every row hold up to k entries (k ≥ l.k), keeping their
// contents, and marks all entries new so the next join revisits them.
func (l *lists) widen(k int) {
	n := len(l.count)
	idx := make([]int32, n*k)
	sim := make([]float32, n*k)
	stamp := make([]int32, n*k)
	for i := range n {
		copy(idx[i*k:], l.idx[i*l.k:i*l.k+int(l.count[i])])
		copy(sim[i*k:], l.sim[i*l.k:i*l.k+int(l.count[i])])
	}
	l.k, l.idx, l.sim, l.stamp = k, idx, sim, stamp
}
