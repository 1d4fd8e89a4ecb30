package groups

import (
	"cmp"
	"runtime"
	"slices"

	"github.com/essync/essync/internal/parallel"
	"github.com/essync/essync/neighbors"
)

// accepted is a final group: its rows, medoid and similarities to it.
type accepted struct {
	rows   []int32
	medoid int32
	sims   []float32
}

// split turns the links into groups: connected parts, each checked against
// its medoid. A part with a member below MedoidThreshold (or whose Apart
// value differs from the one the part keeps, see apartValue) keeps only the
// members reachable from the medoid through members that pass (its core,
// checked again with its own medoid) and the rest is split into its own
// connected parts and checked the same way. Every step either accepts a part
// or makes it strictly smaller, so this ends; parts are handled in a fixed
// order, so the result is deterministic.
func (c *computer) split() {
	n := len(c.ids)
	mark := make([]int32, n) // epoch stamp: member of the set being walked
	epoch := int32(0)
	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}
	initial := c.components(all, mark, &epoch, nil)
	// The first medoids are most of the work and independent: compute them
	// on every core. Parts made by splitting get theirs in the loop.
	stack := make([]accepted, len(initial))
	parallel.For(len(initial), runtime.GOMAXPROCS(0), func(t int) {
		stack[len(initial)-1-t] = accepted{rows: initial[t], medoid: -1}
		if len(initial[t]) > 1 {
			m, sims := c.medoid(initial[t], nil)
			stack[len(initial)-1-t] = accepted{initial[t], m, sims}
		}
	})
	for len(stack) > 0 { // pops the initial parts in ascending order of first row
		top := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		part := top.rows
		if len(part) == 1 {
			c.out = append(c.out, accepted{part, part[0], []float32{1}})
			continue
		}
		m, sims := top.medoid, top.sims
		if m < 0 {
			epoch++
			for _, i := range part {
				mark[i] = epoch
			}
			in := epoch
			m, sims = c.medoid(part, func(j int32) bool { return mark[j] == in })
		}
		passed := c.passing(m, part, sims)
		if len(passed) < len(part) {
			// Before splitting, try the member closest to the mean: on a
			// chain of equal links it is the middle, which the link sums
			// cannot tell from the others.
			if mc, simsC := c.centre(part); mc != m {
				m, sims = mc, simsC
				passed = c.passing(m, part, sims)
			}
		}
		if len(passed) == len(part) {
			c.out = append(c.out, accepted{part, m, sims})
			continue
		}
		c.st.Splits++
		core := c.reach(m, passed, mark, &epoch)
		epoch++
		for _, i := range core {
			mark[i] = epoch
		}
		rest := make([]int32, 0, len(part)-len(core))
		for _, i := range part {
			if mark[i] != epoch {
				rest = append(rest, i)
			}
		}
		parts := c.components(rest, mark, &epoch, nil)
		for t := len(parts) - 1; t >= 0; t-- {
			stack = append(stack, accepted{rows: parts[t], medoid: -1})
		}
		stack = append(stack, accepted{rows: core, medoid: -1})
	}
}

// passing returns the members of part that may stay in a group around
// medoid m: similar enough to it, and with an Apart value compatible with the
// one the part keeps.
func (c *computer) passing(m int32, part []int32, sims []float32) []int32 {
	keep := c.apartValue(m, part, sims)
	passed := make([]int32, 0, len(part))
	for t, i := range part {
		if sims[t] >= c.opts.MedoidThreshold && (keep == "" || c.opts.Apart(c.ids[i]) == "" || c.opts.Apart(c.ids[i]) == keep) {
			passed = append(passed, i)
		}
	}
	return passed
}

// apartValue is the Apart value a part keeps when it is checked around
// medoid m: m's own, or if m has none, that of the member most similar to m
// that has one ("" without Apart). Links only join compatible values, but an
// unknown value may bridge two different ones (red – unknown – blue); the
// check removes such bridges.
func (c *computer) apartValue(m int32, part []int32, sims []float32) string {
	if c.opts.Apart == nil {
		return ""
	}
	if v := c.opts.Apart(c.ids[m]); v != "" {
		return v
	}
	best, bestSim := "", float32(0)
	for t, i := range part {
		v := c.opts.Apart(c.ids[i])
		if v != "" && (best == "" || sims[t] > bestSim || (sims[t] == bestSim && v < best)) {
			best, bestSim = v, sims[t]
		}
	}
	return best
}

// components returns the connected parts of set (rows ascending) under the
// links restricted to set, each sorted, in order of their smallest row,
// appended to dst.
func (c *computer) components(set []int32, mark []int32, epoch *int32, dst [][]int32) [][]int32 {
	in, seen := markSet(set, mark, epoch)
	for _, i := range set {
		if mark[i] == in { // not yet placed in a part
			dst = append(dst, c.flood(i, mark, in, seen))
		}
	}
	return dst
}

// reach returns the members of set reachable from start through links within
// set, sorted.
func (c *computer) reach(start int32, set []int32, mark []int32, epoch *int32) []int32 {
	in, seen := markSet(set, mark, epoch)
	return c.flood(start, mark, in, seen)
}

// markSet starts a search restricted to set: it takes two new epochs, marks
// set's rows with the first (in) and returns both; the search marks what it
// reaches with the second (seen).
func markSet(set []int32, mark []int32, epoch *int32) (in, seen int32) {
	*epoch++
	in = *epoch
	for _, i := range set {
		mark[i] = in
	}
	*epoch++
	return in, *epoch
}

// flood returns start and the rows reachable from it through links to rows
// marked in, marking each seen, sorted.
func (c *computer) flood(start int32, mark []int32, in, seen int32) []int32 {
	out := []int32{start}
	mark[start] = seen
	for q := 0; q < len(out); q++ {
		for _, e := range c.adj[out[q]] {
			if j := e.to; mark[j] == in {
				mark[j] = seen
				out = append(out, j)
			}
		}
	}
	slices.Sort(out)
	return out
}

// medoid returns the member with the largest sum of link similarities to
// the other members (ties by id) and every member's similarity to it. in
// tells whether a row is in the part (nil: every link stays inside, as in a
// connected part). Scoring by the links costs one pass over the vectors (the
// similarities to the medoid) where the exact medoid would need size² dot
// products, and a member linked strongly to many others is the part's centre.
func (c *computer) medoid(part []int32, in func(int32) bool) (int32, []float32) {
	best, bestScore := part[0], float32(-1)
	for _, i := range part {
		var s float32
		for _, e := range c.adj[i] {
			if in == nil || in(e.to) {
				s += e.w
			}
		}
		if s > bestScore || (s == bestScore && c.idLess(i, best) < 0) {
			best, bestScore = i, s
		}
	}
	return best, c.simsTo(best, part)
}

// centre returns the member closest to the part's mean vector (ties by id)
// and every member's similarity to it: two more passes over the vectors,
// spent only on parts the link-sum medoid could not keep whole.
func (c *computer) centre(part []int32) (int32, []float32) {
	mean := make([]float32, c.dims)
	for _, i := range part {
		row := c.vecs[int(i)*c.dims : int(i+1)*c.dims]
		for d, v := range row {
			mean[d] += v
		}
	}
	best, bestScore := part[0], float32(0)
	for t, i := range part {
		s := neighbors.Dot(c.vecs[int(i)*c.dims:int(i+1)*c.dims], mean)
		if t == 0 || s > bestScore || (s == bestScore && c.idLess(i, best) < 0) {
			best, bestScore = i, s
		}
	}
	return best, c.simsTo(best, part)
}

// simsTo returns every member's similarity to m (1 for m itself).
func (c *computer) simsTo(m int32, part []int32) []float32 {
	sims := make([]float32, len(part))
	for t, i := range part {
		if i == m {
			sims[t] = 1
			continue
		}
		sims[t] = c.dot(m, i)
	}
	return sims
}

// result names the groups and orders everything.
func (c *computer) result() *Result {
	r := &Result{of: make(map[string]int32, len(c.ids)), groups: make([]Group, 0, len(c.out))}
	for _, a := range c.out {
		part := a.rows
		g := Group{Members: make([]Member, len(part)), Medoid: c.ids[a.medoid]}
		for t, i := range part {
			g.Members[t] = Member{ID: c.ids[i], SimilarityToMedoid: truncate(a.sims[t])}
		}
		g.ID = IDPrefix + c.ids[c.oldest(part)]
		slices.SortFunc(g.Members, func(a, b Member) int {
			if a.SimilarityToMedoid != b.SimilarityToMedoid {
				return cmp.Compare(b.SimilarityToMedoid, a.SimilarityToMedoid)
			}
			return cmp.Compare(a.ID, b.ID)
		})
		r.groups = append(r.groups, g)
	}
	slices.SortFunc(r.groups, func(a, b Group) int {
		if len(a.Members) != len(b.Members) {
			return len(b.Members) - len(a.Members)
		}
		return cmp.Compare(a.ID, b.ID)
	})
	c.st.Threshold, c.st.MedoidThreshold = c.opts.Threshold, c.opts.MedoidThreshold
	for gi, g := range r.groups {
		for _, m := range g.Members {
			r.of[m.ID] = int32(gi)
		}
		if len(g.Members) > 1 {
			c.st.Groups++
			c.st.GroupedProducts += len(g.Members)
		}
		c.st.Largest = max(c.st.Largest, len(g.Members))
	}
	r.stats = c.st
	return r
}

// oldest returns the member whose id names the group: the earliest
// FirstSeen, unknown times last, ties by smallest id.
func (c *computer) oldest(part []int32) int32 {
	best := part[0]
	if c.opts.FirstSeen == nil {
		for _, i := range part[1:] {
			if c.idLess(i, best) < 0 {
				best = i
			}
		}
		return best
	}
	bt, bok := c.opts.FirstSeen(c.ids[best])
	for _, i := range part[1:] {
		t, ok := c.opts.FirstSeen(c.ids[i])
		switch {
		case ok && !bok, ok && bok && t.Before(bt),
			ok == bok && (!ok || t.Equal(bt)) && c.idLess(i, best) < 0:
			best, bt, bok = i, t, ok
		}
	}
	return best
}
