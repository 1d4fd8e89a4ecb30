package neighbors

import (
	"container/heap"
	"math/rand/v2"
)

// Inserting new items into a large approximate graph. Scoring every new item
// against every item costs (new × all) pairs: at a million items with 1 %
// new that is 10¹⁰ dot products, as long as a whole build. Instead each new
// item searches the graph it joins: a beam search over the stored lists
// (the neighbour of my neighbour is likely my neighbour), entered from the
// best items of a fixed random sample. It scores a few thousand items per
// new item, and the items it scores are the ones whose own lists the new
// item may enter, so the reverse updates come from the same scores. New
// items are scored against each other by brute force, since their own lists
// do not exist yet for the search to walk.

// searchAbove is the graph size from which new items are inserted by graph
// search in approximate mode. Below it brute force is as fast — its blocked
// kernel scores a pair several times cheaper than the search's scattered
// rows, and the search scores some 10 % of 100 000 items per new item — and
// exact (BenchmarkUpdateScale at 100 000, 1 000 new: 17.5 s and recall
// 0.989 by search, 17.3 s and 0.995 by brute force). Brute force grows with
// N² at 1 % new, the search with about N. A variable so tests and
// benchmarks can choose either path.
var searchAbove = 200_000

// Graph search effort: the entry sample, the entries each search starts
// from, the beam width, and a bound on the items one search scores.
var (
	entrySample = 2048
	entryPoints = 8
	minBeam     = 512
	maxScored   = 32768
)

// searchInsert fills the lists of the fresh items (rows appended to the
// graph, their lists empty) by graph search among the other live items and
// by brute force among themselves, and hands every score that reaches an
// existing item's reported top-K to offer (called from one goroutine per
// worker w, to be applied by the caller afterwards).
func (g *Graph) searchInsert(fresh, live []int32, offer func(w int, to, from int32, s float32)) {
	firstFresh := fresh[0] // fresh rows are the graph's last
	old := make([]int32, 0, len(live))
	for _, i := range live {
		if i < firstFresh {
			old = append(old, i)
		}
	}
	if len(old) > 0 {
		g.searchAmong(old, fresh, offer)
	}
	// New items among themselves: both sides are new, so each pair is
	// offered to both rows.
	res := g.exactRows(fresh, fresh, g.l.k, nil)
	parallel(g.opts.Workers, len(fresh), func(_, t int) {
		idx, sim := res.row(int32(t))
		for e, j := range idx {
			g.l.insert(fresh[t], j, sim[e], 0)
		}
	})
	g.dropPages()
}

// searchBatch is how many new items are searched between two
// Options.DropPages calls (the hook is called from one goroutine only).
const searchBatch = 256

// searchAmong fills the lists of the fresh items by beam searches over the
// lists of old (the items that were there before), offering every score
// that reaches an old item's reported top-K.
func (g *Graph) searchAmong(old, fresh []int32, offer func(w int, to, from int32, s float32)) {
	firstFresh := fresh[0]
	rev := g.reverseLists(old)
	rng := rand.New(rand.NewPCG(uint64(g.opts.Seed), 0x1a5e7))
	sample := sampleOf(old, entrySample, rng)
	entries := g.exactRows(fresh, sample, entryPoints, nil)
	g.dropPages()
	beam := max(minBeam, 3*g.opts.K)
	workers := g.opts.Workers
	seen := make([][]uint32, workers)
	stamps := make([]uint32, workers)
	beams := make([]beamSearch, workers)
	for lo := 0; lo < len(fresh); lo += searchBatch {
		if g.stopped() {
			return
		}
		batch := fresh[lo:min(lo+searchBatch, len(fresh))]
		parallel(workers, len(batch), func(w, t int) {
			if seen[w] == nil {
				seen[w] = make([]uint32, len(g.ids))
			}
			stamps[w]++
			b := &beams[w]
			q := batch[t]
			b.reset(g, rev, q, seen[w], stamps[w], beam, firstFresh)
			idx, _ := entries.row(int32(lo + t))
			b.score(idx)
			b.run()
			for e, j := range b.scored {
				s := b.sims[e]
				g.l.insert(q, j, s, 0) // row q belongs to this worker alone
				if s >= g.l.floorAt(j, g.opts.K) {
					offer(w, j, q, s)
				}
			}
		})
		g.dropPages()
	}
}

// beamSearch is one worker's state for searching the graph for item q: the
// items scored so far (with their scores), and the frontier still to expand.
type beamSearch struct {
	g      *Graph
	rev    *reverse
	q      int32
	seen   []uint32
	stamp  uint32
	fresh  int32 // rows from here on are new: their lists are empty
	width  int
	scored []int32
	sims   []float32
	front  frontier // items to expand, best first
	best   bestSet  // the width best scores so far
	batch  []int32
	out    []float32
}

func (b *beamSearch) reset(g *Graph, rev *reverse, q int32, seen []uint32, stamp uint32, width int, fresh int32) {
	b.g, b.rev, b.q, b.seen, b.stamp, b.width, b.fresh = g, rev, q, seen, stamp, width, fresh
	b.scored, b.sims = b.scored[:0], b.sims[:0]
	b.front, b.best = b.front[:0], b.best[:0]
	seen[q] = stamp
}

// score scores the items of cs not seen yet (fresh ones are skipped: their
// lists are empty) and offers them to the frontier and the best set.
func (b *beamSearch) score(cs []int32) {
	b.batch = b.batch[:0]
	for _, j := range cs {
		if b.seen[j] == b.stamp || j >= b.fresh || b.g.m.rows[j] == nil {
			continue
		}
		b.seen[j] = b.stamp
		b.batch = append(b.batch, j)
	}
	if len(b.batch) == 0 {
		return
	}
	if cap(b.out) < len(b.batch) {
		b.out = make([]float32, len(b.batch), 2*len(b.batch))
	}
	out := b.out[:len(b.batch)]
	b.g.m.dots(b.q, b.batch, out)
	for e, j := range b.batch {
		s := out[e]
		b.scored, b.sims = append(b.scored, j), append(b.sims, s)
		if len(b.best) < b.width {
			heap.Push(&b.best, s)
		} else if s > b.best[0] {
			b.best[0] = s
			heap.Fix(&b.best, 0)
		} else {
			continue // not among the best: not worth expanding
		}
		heap.Push(&b.front, candidate{j, s})
	}
}

// run expands the best unexpanded item until none can improve the beam.
func (b *beamSearch) run() {
	for len(b.front) > 0 && len(b.scored) < maxScored {
		c := heap.Pop(&b.front).(candidate)
		if len(b.best) == b.width && c.s < b.best[0] {
			return
		}
		idx, _ := b.g.l.row(c.i)
		b.score(idx)
		b.score(b.rev.of(c.i))
	}
}

// reverse is the graph's reverse lists in compressed rows: who lists item i.
type reverse struct {
	start []int32 // len n+1
	from  []int32
}

func (r *reverse) of(i int32) []int32 { return r.from[r.start[i]:r.start[i+1]] }

// reverseLists inverts the lists of items: a kNN graph's edges point from
// dense regions into hubs, so a search that also walks them backwards
// reaches items no list names often.
func (g *Graph) reverseLists(items []int32) *reverse {
	r := &reverse{start: make([]int32, len(g.ids)+1)}
	for _, i := range items {
		idx, _ := g.l.row(i)
		for _, j := range idx {
			r.start[j+1]++
		}
	}
	for i := range len(g.ids) {
		r.start[i+1] += r.start[i]
	}
	r.from = make([]int32, r.start[len(g.ids)])
	next := append([]int32(nil), r.start[:len(g.ids)]...)
	for _, i := range items {
		idx, _ := g.l.row(i)
		for _, j := range idx {
			r.from[next[j]] = i
			next[j]++
		}
	}
	return r
}

// candidate is an item on the frontier with its score.
type candidate struct {
	i int32
	s float32
}

// frontier is a max-heap of candidates by score.
type frontier []candidate

func (f frontier) Len() int           { return len(f) }
func (f frontier) Less(a, b int) bool { return f[a].s > f[b].s }
func (f frontier) Swap(a, b int)      { f[a], f[b] = f[b], f[a] }
func (f *frontier) Push(x any)        { *f = append(*f, x.(candidate)) }
func (f *frontier) Pop() any {
	old := *f
	c := old[len(old)-1]
	*f = old[:len(old)-1]
	return c
}

// bestSet is a min-heap of the best scores so far: its root is the score a
// new item must beat to enter the beam.
type bestSet []float32

func (h bestSet) Len() int           { return len(h) }
func (h bestSet) Less(a, b int) bool { return h[a] < h[b] }
func (h bestSet) Swap(a, b int)      { h[a], h[b] = h[b], h[a] }
func (h *bestSet) Push(x any)        { *h = append(*h, x.(float32)) }
func (h *bestSet) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
