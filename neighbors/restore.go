package neighbors

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Restore rebuilds a Graph from top-K lists computed earlier — read back from
// the index by an incremental sync — without searching again: each item's
// list is taken as given and its similarities are recomputed exactly from the
// vectors. Update then only has to repair what the changes touch.
//
// lists[i] holds item i's neighbour ids. Entries naming unknown ids (or the
// item itself) are dropped; a row left shorter than min(K, n-1) is recomputed
// by brute force, and its id is returned in repaired, so a store that lost
// entries heals instead of serving short lists. Recall is estimated on a
// sample against brute force, as Build does.
func Restore(ids []string, vectors []float32, dims int, lists [][]string, opts Options) (g *Graph, repaired []string, err error) {
	return RestoreContext(context.Background(), ids, vectors, dims, lists, opts)
}

// RestoreContext is Restore that stops early when ctx is cancelled and
// returns ctx.Err().
func RestoreContext(ctx context.Context, ids []string, vectors []float32, dims int, lists [][]string, opts Options) (g *Graph, repaired []string, err error) {
	if len(lists) != len(ids) {
		return nil, nil, fmt.Errorf("neighbors: restore: %d lists for %d ids", len(lists), len(ids))
	}
	g, err = newGraph(ids, vectors, dims, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	g.done = ctx.Done()
	defer func() {
		g.done = nil
		if err == nil && ctx.Err() != nil {
			g, repaired, err = nil, nil, fmt.Errorf("neighbors: restore: %w", ctx.Err())
		}
	}()
	opts = g.opts
	want := min(opts.K, len(ids)-1)
	var short []int32
	for i, row := range lists {
		cs := make([]int32, 0, len(row))
		for _, id := range row {
			if j, ok := g.index[id]; ok && j != int32(i) && !slices.Contains(cs, j) {
				cs = append(cs, j)
			}
		}
		sims := make([]float32, len(cs))
		g.m.dots(int32(i), cs, sims)
		for e, j := range cs {
			g.l.insert(int32(i), j, sims[e], 0)
		}
		if len(cs) < want {
			short = append(short, int32(i))
		}
	}
	live := g.live()
	g.recomputeRows(short, live)
	for _, i := range short {
		repaired = append(repaired, g.ids[i])
	}
	g.recall = 1
	if !g.exact {
		rng := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed))
		sample := sampleOf(live, 256, rng)
		g.recall = g.sampleRecall(sample, g.exactRows(sample, live, opts.K, nil))
	}
	slices.Sort(repaired)
	return g, repaired, nil
}

// recomputeRows replaces the lists of rows with their exact top-K among live,
// found by brute force.
func (g *Graph) recomputeRows(rows, live []int32) {
	if len(rows) == 0 {
		return
	}
	res := g.exactRows(rows, live, g.l.k, nil)
	for t, i := range rows {
		g.l.clearRow(i)
		idx, sim := res.row(int32(t))
		for e, j := range idx {
			g.l.insert(i, j, sim[e], 0)
		}
	}
}
