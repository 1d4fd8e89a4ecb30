package neighbors

import (
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/essync/essync/internal/cputime"
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

// approximate fills g.l for live items and returns the measured recall.
func (g *Graph) approximate(live []int32) float64 {
	o := g.opts
	start := time.Now()
	rng := rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	sample := sampleOf(live, 300, rng)
	truth := g.exactRows(sample, live, o.K, nil)
	slog.Debug("neighbors: recall sample ready", "items", len(sample), "took", time.Since(start), "cpu", cputime.Process())
	leaf := o.LeafSize
	if leaf == 0 {
		leaf = max(32, o.K+12)
	}
	trees := o.Trees
	if trees == 0 {
		trees = 16
	}
	planted := 0
	round := int32(0)
	var sc scratch
	plantUpTo := func(total int) {
		// The sketch lives only while trees are built: it would otherwise be
		// the largest structure besides the lists during the descent.
		sk := g.m.sketch(live, uint64(o.Seed), o.Workers)
		// A batch of trees is built in parallel (one per worker), then each
		// tree's leaves are joined in parallel; only a batch is held at once.
		for planted < total && !g.stopped() {
			built := make([]*tree, min(o.Workers, total-planted))
			parallel(o.Workers, len(built), func(_, t int) {
				built[t] = sk.buildTree(live, leaf, uint64(o.Seed)*1000003+uint64(planted+t)+1)
			})
			for _, t := range built {
				g.plant(t, round)
			}
			planted += len(built)
		}
	}
	plantUpTo(trees)
	recall := g.sampleRecall(sample, truth)
	slog.Debug("neighbors: forest planted", "trees", planted, "leaf", leaf, "recall", recall, "took", time.Since(start), "cpu", cputime.Process())
	converged := max(1, len(live)*o.K/1000)
	for rounds := 1; ; rounds++ {
		if g.stopped() {
			return recall
		}
		if o.Rounds > 0 && rounds > o.Rounds {
			break
		}
		if o.Rounds == 0 && o.Recall > 0 && recall >= o.Recall {
			break
		}
		round++
		changed := g.descend(live, round, rng, &sc)
		recall = g.sampleRecall(sample, truth)
		slog.Debug("neighbors: descent round", "round", rounds, "changed", changed, "recall", recall, "took", time.Since(start), "cpu", cputime.Process())
		if changed >= converged {
			continue
		}
		if o.Recall == 0 || recall >= o.Recall {
			break
		}
		// Converged below target. Longer working lists give the descent
		// more paths to the true neighbours; beyond that, fresh trees bring
		// candidates it cannot reach from its current lists.
		switch {
		case g.l.k < maxWidth*o.K:
			g.l.widen(min(maxWidth*o.K, g.l.k+(o.K+1)/2))
			slog.Debug("neighbors: wider lists", "width", g.l.k)
		case o.Trees == 0 && planted < maxTrees:
			plantUpTo(planted * 2)
			slog.Debug("neighbors: more trees", "trees", planted, "recall", g.sampleRecall(sample, truth))
		default:
			slog.Warn("neighbors: recall target not reached at full effort", "target", o.Recall, "recall", recall)
			return recall
		}
	}
	return recall
}

// sampleOf picks up to n items of live at random, in a deterministic order.
func sampleOf(live []int32, n int, rng *rand.Rand) []int32 {
	if len(live) <= n {
		return append([]int32(nil), live...)
	}
	perm := rng.Perm(len(live))[:n]
	out := make([]int32, n)
	for i, p := range perm {
		out[i] = live[p]
	}
	return out
}

// sampleRecall is the share of the true top-K of the sample items that the
// lists hold. An entry counts when it scores at least the true K-th score, so
// ties among equal vectors do not count as misses.
func (g *Graph) sampleRecall(sample []int32, truth *lists) float64 {
	hit, total := 0, 0
	for r, q := range sample {
		_, tsim := truth.row(int32(r))
		if len(tsim) == 0 {
			continue
		}
		kth := tsim[len(tsim)-1]
		_, sim := g.l.row(q)
		sim = sim[:min(len(sim), g.opts.K)]
		got := 0
		for _, s := range sim {
			if s >= kth-1e-6 {
				got++
			}
		}
		hit += min(got, len(tsim))
		total += len(tsim)
	}
	if total == 0 {
		return 1
	}
	return math.Round(float64(hit)/float64(total)*1e4) / 1e4
}
