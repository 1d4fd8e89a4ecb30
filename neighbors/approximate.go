package neighbors

import (
	"log/slog"
	"math"
	"math/rand/v2"
	"runtime/debug"
	"time"

	"github.com/essync/essync/internal/cputime"
)

// faithfulShare is the share of the rows' energy the principal subspace must
// keep for the coarse phase to raise its effort with more trees.
const faithfulShare = 0.95

// search is the state of one approximate build: the recall sample and its
// exact answer, the trees planted so far and the round counter. It runs in
// two phases: a coarse one on the rows' principal subspace (see principal.go),
// then, after every list is re-scored on the full rows, a fine one that
// continues the descent on the full rows only when the measured recall is
// still below the target.
type search struct {
	g       *Graph
	live    []int32
	sample  []int32
	truth   *lists
	full    matrix // the rows final scores are computed on
	leaf    int
	planted int
	rounds  int // descent rounds run, both phases
	round   int32
	// coarseTrees allows planting more trees in the coarse phase.
	coarseTrees bool
	rng         *rand.Rand
	sc          scratch
	start       time.Time
}

// approximate fills g.l for live items and returns the measured recall.
func (g *Graph) approximate(live []int32) float64 {
	o := g.opts
	s := &search{g: g, live: live, full: g.m, start: time.Now()}
	s.rng = rand.New(rand.NewPCG(uint64(o.Seed), 0x5eed))
	s.sample = sampleOf(live, 300, s.rng)
	s.truth = g.exactRows(s.sample, live, o.K, nil)
	g.dropPages() // the exact answer's pass over every row
	slog.Debug("neighbors: recall sample ready", "items", len(s.sample), "took", time.Since(s.start), "cpu", cputime.Process())
	s.leaf = o.LeafSize
	if s.leaf == 0 {
		s.leaf = autoLeaf(len(live), o.K)
	}
	trees := o.Trees
	if trees == 0 {
		trees = 16
	}
	coarse, kept := g.m.principal(live, uint64(o.Seed), o.Workers)
	if coarse != &g.m {
		g.dropPages() // the projection's pass; the coarse phase reads only the sample's full rows
		g.m = *coarse
		// Where the subspace keeps nearly all the energy, its neighbours
		// are the full rows' and fresh trees are worth planting there;
		// otherwise the fine phase plants them.
		s.coarseTrees = kept >= faithfulShare
		slog.Debug("neighbors: principal subspace ready", "dims", g.m.dims, "energy", kept, "took", time.Since(s.start), "cpu", cputime.Process())
	}
	s.plantUpTo(trees)
	recall := s.recall()
	slog.Debug("neighbors: forest planted", "trees", s.planted, "leaf", s.leaf, "recall", recall, "took", time.Since(s.start), "cpu", cputime.Process())
	if g.m.dims == s.full.dims {
		recall = s.refine(recall, true)
		g.fineRounds = s.rounds
		return recall
	}
	recall = s.refine(recall, false)
	g.coarseRounds = s.rounds
	g.m = s.full
	if g.stopped() {
		return recall
	}
	// The coarse rows and the descent's scratch (about 1.5 KB a row) go
	// back to the OS before the full rows are read at random.
	s.sc = scratch{}
	coarse = nil
	debug.FreeOSMemory()
	s.rescore()
	recall = s.recall()
	slog.Debug("neighbors: lists re-scored on the full rows", "recall", recall, "took", time.Since(s.start), "cpu", cputime.Process())
	if o.Rounds > 0 || o.Recall == 0 || recall >= o.Recall {
		return recall // target met, or the effort was fixed by the caller
	}
	if s.coarseTrees && s.planted >= maxTrees && g.l.k >= maxWidth*o.K {
		// The coarse phase already ran at full effort on a subspace that
		// keeps nearly all the energy: descent rounds on the full rows
		// would repeat it at ten times the cost a pair, holding the
		// descent's scratch and every full row at once (at 300 000
		// clustered rows they changed 146 of 18 million entries and no
		// recall; BENCHMARKS.md §4).
		slog.Warn("neighbors: recall target not reached at full effort", "target", o.Recall, "recall", recall)
		return recall
	}
	// The subspace missed part of the answer: continue on the full rows,
	// every entry taking part in the next join.
	for i := range g.l.stamp {
		g.l.stamp[i] = s.round
	}
	recall = s.refine(recall, true)
	g.fineRounds = s.rounds - g.coarseRounds
	return recall
}

// Leaf sizes the automatic choice picks between (see Options.LeafSize).
const (
	minLeaf = 32
	maxLeaf = 4096
	// leavesPerTree is how many leaves a tree has at least (and below
	// twice that), so it is 8–9 levels deep at any N up to
	// leavesPerTree × maxLeaf (1 M items); deeper beyond.
	leavesPerTree = 256
)

// autoLeaf is the leaf size for n items at K: the largest power of two up to
// n/leavesPerTree, within [max(minLeaf, K+12), maxLeaf]. A true neighbour
// pair is cut apart at some level of a tree more often the deeper the tree
// (at leaves of 32, 16 trees found 30 % of the top-20 at 100 000 items and
// 18 % at 1 M on the clustered benchmark data; BENCHMARKS.md §13), so leaves
// that grow with N hold the depth, and with it what each tree finds, while a
// leaf's pairs are scored by the tile kernel at a few ns each.
func autoLeaf(n, k int) int {
	leaf := max(minLeaf, k+12)
	for leaf*2 <= min(maxLeaf, n/leavesPerTree) {
		leaf *= 2
	}
	return leaf
}

// refine runs descent rounds until the recall target is met (or, with fixed
// effort, the rounds are done), raising the effort each time the lists stop
// changing below target. With last unset it returns quietly at full effort,
// since the fine phase follows.
func (s *search) refine(recall float64, last bool) float64 {
	g, o := s.g, s.g.opts
	converged := max(1, len(s.live)*o.K/1000)
	for {
		if g.stopped() {
			return recall
		}
		if o.Rounds > 0 && s.rounds >= o.Rounds {
			return recall
		}
		if o.Rounds == 0 && o.Recall > 0 && recall >= o.Recall {
			return recall
		}
		s.rounds++
		s.round++
		changed := g.descend(s.live, s.round, s.rng, &s.sc)
		recall = s.recall()
		slog.Debug("neighbors: descent round", "round", s.rounds, "dims", g.m.dims, "changed", changed, "recall", recall, "took", time.Since(s.start), "cpu", cputime.Process())
		if changed >= converged {
			continue
		}
		if o.Recall == 0 || recall >= o.Recall {
			return recall
		}
		// Converged below target. Longer working lists give the descent
		// more paths to the true neighbours; beyond that, fresh trees bring
		// candidates it cannot reach from its current lists.
		switch {
		case g.l.k < maxWidth*o.K:
			// A widening re-joins every list. Pairs are cheap in the coarse
			// phase: go to the widest lists at once rather than step by step.
			step := g.l.k + (o.K+1)/2
			if !last {
				step = maxWidth * o.K
			}
			g.l.widen(min(maxWidth*o.K, step))
			slog.Debug("neighbors: wider lists", "width", g.l.k)
		case o.Trees == 0 && s.planted < maxTrees && (last || s.coarseTrees):
			s.plantUpTo(s.planted * 2)
			recall = s.recall() // the leaves alone may meet the target
			slog.Debug("neighbors: more trees", "trees", s.planted, "recall", recall)
		case last:
			slog.Warn("neighbors: recall target not reached at full effort", "target", o.Recall, "recall", recall)
			return recall
		default:
			return recall
		}
	}
}

// plantUpTo plants trees until total are planted and joins their leaves.
func (s *search) plantUpTo(total int) {
	g, o := s.g, s.g.opts
	// The sketch lives only while trees are built: it would otherwise be
	// the largest structure besides the lists during the descent.
	sk := g.m.sketch(s.live, uint64(o.Seed), o.Workers)
	// A batch of trees is built in parallel (one per worker), then each
	// tree's leaves are joined in parallel; only a batch is held at once.
	for s.planted < total && !g.stopped() {
		built := make([]*tree, min(o.Workers, total-s.planted))
		parallel(o.Workers, len(built), func(_, t int) {
			built[t] = sk.buildTree(s.live, s.leaf, uint64(o.Seed)*1000003+uint64(s.planted+t)+1)
		})
		for _, t := range built {
			g.plant(t, s.round)
		}
		s.planted += len(built)
	}
}

// recall is the sample's recall@K; in the coarse phase each sample list is
// first re-scored on the full rows, as the final lists will be.
func (s *search) recall() float64 {
	g := s.g
	if g.m.dims == s.full.dims {
		return g.sampleRecall(s.sample, s.truth)
	}
	hit, total := 0, 0
	var buf []float32
	for r, q := range s.sample {
		_, tsim := s.truth.row(int32(r))
		if len(tsim) == 0 {
			continue
		}
		idx, _ := g.l.row(q)
		buf = append(buf[:0], make([]float32, len(idx))...)
		s.full.dots(q, idx, buf)
		if r%recallDropEvery == recallDropEvery-1 {
			g.dropPages()
		}
		hit += hitsOf(buf, tsim)
		total += len(tsim)
	}
	g.dropPages()
	return roundedRecall(hit, total)
}

// rescore replaces every list's scores by the full rows' and re-sorts it.
func (s *search) rescore() {
	g := s.g
	bufs := make([][]int32, g.opts.Workers)
	sims := make([][]float32, g.opts.Workers)
	parallel(g.opts.Workers, len(s.live), func(w, t int) {
		i := s.live[t]
		idx, _ := g.l.row(i)
		bufs[w] = append(bufs[w][:0], idx...)
		sims[w] = append(sims[w][:0], make([]float32, len(idx))...)
		g.m.dots(i, bufs[w], sims[w])
		g.l.clearRow(i)
		for e, j := range bufs[w] {
			g.l.insert(i, j, sims[w][e], s.round)
		}
	})
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
		_, sim := g.l.row(q)
		hit += hitsOf(sim[:min(len(sim), g.opts.K)], tsim)
		total += len(tsim)
	}
	return roundedRecall(hit, total)
}

// hitsOf counts the scores at least the true K-th score (the last of tsim),
// at most len(tsim): the true neighbours a list holds, ties included.
func hitsOf(scores, tsim []float32) int {
	kth, got := tsim[len(tsim)-1], 0
	for _, v := range scores {
		if v >= kth-1e-6 {
			got++
		}
	}
	return min(got, len(tsim))
}

// roundedRecall is hit/total rounded to 4 decimals (1 when there is nothing to find).
func roundedRecall(hit, total int) float64 {
	if total == 0 {
		return 1
	}
	return math.Round(float64(hit)/float64(total)*1e4) / 1e4
}
