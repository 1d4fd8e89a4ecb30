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
// it bounds the memory the pending offers take.
const offerBatch = 64

type offer struct {
	to, from int32
	s        float32
}

// join scores the pairs of n groups (fetched by get into the worker's group)
// and offers them to g.l, tagging insertions with round. Scoring runs in
// parallel against the lists as they stood before the batch; offers are then
// applied per item in parallel. The top-K of a set does not depend on the
// order it is offered in, so the result is deterministic.
func (g *Graph) join(n int, round int32, get func(i int, into *group)) {
	workers := g.opts.Workers
	pending := make([][]offer, workers)
	groups := make([]group, workers)
	bufs := make([][]float32, workers)
	for lo := 0; lo < n; lo += offerBatch {
		hi := min(lo+offerBatch, n)
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
	g.join(t.leaves(), round, func(i int, gr *group) {
		gr.news = append(gr.news[:0], t.leaf(i)...)
		gr.olds = gr.olds[:0]
	})
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
	g.join(len(live), round, func(t int, gr *group) {
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
