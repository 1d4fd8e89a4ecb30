package neighbors

import (
	"math/rand/v2"
)

// Approximate search: forest leaves seed the lists, then NN-descent rounds
// (as in pynndescent) refine them. A round gathers, for every item s, the
// neighbours and reverse neighbours of s that are new since the last round
// and the old ones, and scores every new×new and new×old pair with the tile
// kernel: the neighbour of my neighbour is likely my neighbour. Pairs are
// offered to both items' lists. Scores are exact, so re-ranking is built in.

// group is one local join: every pair within news, and news × olds.
type group struct{ news, olds []int32 }

// Effort limits of the recall targeting: working lists up to maxWidth×K
// entries, then up to maxTrees trees.
const (
	maxWidth = 3
	maxTrees = 128
)

// offerBatch is how many groups are scored before their offers are applied;
// it bounds the memory the pending offers take. A batch of groups that can
// make more than offerCap offers in all is cut to fewer groups, but never
// fewer than there are workers.
const (
	offerBatch = 64
	offerCap   = offerBatch * 2 * 60 * 120 // a descent batch at the widest lists
)

// A group of more than bigGroup × the working width (big leaves) offers each
// member only its best pairs of the group (offerBest), scored in row chunks
// of chunkRows, so neither its offers nor its tile grow with its square.
const (
	bigGroup  = 4
	chunkRows = 256
)

type offer struct {
	to, from int32
	s        float32
}

// join scores the pairs of n groups (fetched by get into the worker's group)
// and offers them to g.l, tagging insertions with round. Scoring runs in
// parallel against the lists as they stood before the batch; offers are then
// applied per item in parallel. The top-K of a set does not depend on the
// order it is offered in, so the result is deterministic. offers is the most
// offers one group can make, which sets how many groups a batch holds.
func (g *Graph) join(n, offers int, round int32, get func(i int, into *group)) {
	workers := g.opts.Workers
	pending := make([][]offer, workers)
	groups := make([]group, workers)
	bufs := make([][]float32, workers)
	best := make([]bestScratch, workers)
	batch := max(workers, min(offerBatch, offerCap/max(1, offers)))
	for lo := 0; lo < n; lo += batch {
		hi := min(lo+batch, n)
		if g.stopped() {
			return
		}
		parallel(workers, hi-lo, func(w, i int) {
			if g.stopped() {
				return
			}
			gr := &groups[w]
			get(lo+i, gr)
			rs := gr.news
			if len(rs) == 0 {
				return
			}
			cs := append(gr.news, gr.olds...)
			gr.news = cs[:len(rs)] // keep the buffer for the next group
			if len(cs) > bigGroup*g.l.k {
				pending[w] = g.offerBest(rs, cs, &best[w], pending[w])
				return
			}
			if need := len(rs) * len(cs); cap(bufs[w]) < need {
				bufs[w] = make([]float32, need)
			}
			out := bufs[w][:len(rs)*len(cs)]
			g.m.tileUpper(rs, cs, len(rs), out)
			p := pending[w]
			for r, a := range rs {
				fa := g.l.floor(a)
				row := out[r*len(cs) : (r+1)*len(cs)]
				for c := r + 1; c < len(cs); c++ {
					b := cs[c]
					if a == b {
						continue
					}
					s := row[c]
					if s >= fa {
						p = append(p, offer{a, b, s})
					}
					if s >= g.l.floor(b) {
						p = append(p, offer{b, a, s})
					}
				}
			}
			pending[w] = p
		})
		parallel(workers, workers, func(_, part int) {
			for _, p := range pending {
				for _, o := range p {
					if int(o.to)%workers == part {
						g.l.insert(o.to, o.from, o.s, round)
					}
				}
			}
		})
		for w := range pending {
			pending[w] = pending[w][:0]
		}
	}
}

// plant builds a tree over live and joins its leaves.
func (g *Graph) plant(t *tree, round int32) {
	widest := 0
	for i := range t.leaves() {
		widest = max(widest, len(t.leaf(i)))
	}
	offers := widest * (widest - 1) // two a pair
	if widest > bigGroup*g.l.k {
		offers = widest * g.l.k
	}
	g.join(t.leaves(), offers, round, func(i int, gr *group) {
		gr.news = append(gr.news[:0], t.leaf(i)...)
		gr.olds = gr.olds[:0]
	})
}

// bestScratch is a worker's reusable memory for offerBest: each member's
// selection of best pairs, its floor, and the chunk's scores.
type bestScratch struct {
	sel    *lists
	floors []float32
	buf    []float32
}

// offerBest appends to p the offers of a big group (news rs, all members cs,
// rs a prefix of cs) that can enter the working lists: for each member, its
// best l.k pairs within the group that reach its current floor. An offer
// ranked below l.k others of the same group can never enter the member's
// list, so the lists end as they would with every pair offered, while the
// offers a group makes grow with its size, not its square. Rows are scored
// against the later members in chunks of chunkRows.
func (g *Graph) offerBest(rs, cs []int32, sc *bestScratch, p []offer) []offer {
	k := g.l.k
	if sc.sel == nil || sc.sel.k != k || len(sc.sel.count) < len(cs) {
		sc.sel = newLists(len(cs), k, g.l.ids)
	}
	sel := sc.sel
	clear(sel.count[:len(cs)])
	// A member's floor is the higher of its working list's (fixed while
	// the batch is scored) and its selection's, so most pairs fail one
	// comparison.
	if cap(sc.floors) < len(cs) {
		sc.floors = make([]float32, len(cs))
	}
	floors := sc.floors[:len(cs)]
	for c, x := range cs {
		floors[c] = g.l.floor(x)
	}
	offer1 := func(c int32, j int32, s float32) {
		if sel.insert(c, j, s, 0) {
			floors[c] = max(floors[c], sel.floor(c))
		}
	}
	for r0 := 0; r0 < len(rs); r0 += chunkRows {
		r1 := min(r0+chunkRows, len(rs))
		cols := cs[r0:]
		if need := (r1 - r0) * len(cols); cap(sc.buf) < need {
			sc.buf = make([]float32, need)
		}
		out := sc.buf[:(r1-r0)*len(cols)]
		g.m.tileUpper(rs[r0:r1], cols, r1-r0, out)
		for r := r0; r < r1; r++ {
			a := rs[r]
			row := out[(r-r0)*len(cols) : (r-r0+1)*len(cols)]
			for c := r + 1; c < len(cs); c++ {
				s := row[c-r0]
				if s < floors[r] && s < floors[c] {
					continue
				}
				b := cs[c]
				if a == b {
					continue
				}
				if s >= floors[r] {
					offer1(int32(r), b, s)
				}
				if s >= floors[c] {
					offer1(int32(c), a, s)
				}
			}
		}
	}
	for c, x := range cs {
		idx, sim := sel.row(int32(c))
		for e, j := range idx {
			p = append(p, offer{x, j, sim[e]})
		}
	}
	return p
}

// descend runs one NN-descent round and returns how many entries it changed.
func (g *Graph) descend(live []int32, round int32, rng *rand.Rand, sc *scratch) int {
	k := g.l.k
	// Reverse neighbours, capped at k new and k old per item by reservoir
	// sampling in item order, so the result is deterministic.
	n := len(g.ids)
	revNew := sc.ints(&sc.revNew, n*k)
	revOld := sc.ints(&sc.revOld, n*k)
	seenNew := sc.ints(&sc.seenNew, n)
	seenOld := sc.ints(&sc.seenOld, n)
	clear(seenNew)
	clear(seenOld)
	for _, a := range live {
		idx, _ := g.l.row(a)
		base := int(a) * k
		for e, b := range idx {
			rev, seen := revOld, seenOld
			if g.l.stamp[base+e] >= 0 {
				rev, seen = revNew, seenNew
			}
			c := seen[b]
			seen[b]++
			if int(c) < k {
				rev[int(b)*k+int(c)] = a
			} else if r := rng.IntN(int(c) + 1); r < k {
				rev[int(b)*k+r] = a
			}
		}
	}
	// Freeze each item's group before the join changes any list.
	starts := sc.ints(&sc.starts, len(live)+1)
	members := sc.members[:0]
	newCount := sc.ints(&sc.newCount, len(live))
	mark := sc.ints(&sc.mark, n)
	for i := range mark {
		mark[i] = -1
	}
	for t, s := range live {
		starts[t] = int32(len(members))
		idx, _ := g.l.row(s)
		base := int(s) * k
		add := func(x int32) {
			if mark[x] != int32(t) {
				mark[x] = int32(t)
				members = append(members, x)
			}
		}
		for e, b := range idx {
			if g.l.stamp[base+e] >= 0 {
				add(b)
				g.l.stamp[base+e] = -1
			}
		}
		for _, b := range revNew[int(s)*k : int(s)*k+min(k, int(seenNew[s]))] {
			if int(int32(len(members))-starts[t]) < k {
				add(b)
			}
		}
		newCount[t] = int32(len(members)) - starts[t]
		for e, b := range idx {
			if g.l.stamp[base+e] < 0 && mark[b] != int32(t) {
				add(b)
			}
			_ = e
		}
		for _, b := range revOld[int(s)*k : int(s)*k+min(k, int(seenOld[s]))] {
			if int(int32(len(members))-starts[t]-newCount[t]) < k {
				add(b)
			}
		}
	}
	starts[len(live)] = int32(len(members))
	sc.members = members
	g.join(len(live), 2*k*2*k, round, func(t int, gr *group) {
		m := members[starts[t]:starts[t+1]]
		gr.news = append(gr.news[:0], m[:newCount[t]]...)
		gr.olds = append(gr.olds[:0], m[newCount[t]:]...)
	})
	changed := 0
	for _, st := range g.l.stamp {
		if st == round {
			changed++
		}
	}
	return changed
}

// scratch is the descent's working memory, reused across rounds so a round
// makes no garbage.
type scratch struct {
	revNew, revOld, seenNew, seenOld, starts, newCount, mark, members []int32
}

// ints returns *buf resized to n, reallocating only when it is too small.
func (sc *scratch) ints(buf *[]int32, n int) []int32 {
	if cap(*buf) < n {
		*buf = make([]int32, n)
	}
	*buf = (*buf)[:n]
	return *buf
}
