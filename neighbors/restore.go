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
	k := 0
	for _, row := range lists {
		k = max(k, len(row))
	}
	index := make(map[string]int32, len(ids))
	for i, id := range ids {
		index[id] = int32(i)
	}
	rows := make([]int32, len(ids)*k)
	for i, row := range lists {
		for e := range k {
			j := int32(-1)
			if e < len(row) {
				if r, ok := index[row[e]]; ok {
					j = r
				}
			}
			rows[i*k+e] = j
		}
	}
	return RestoreRows(ctx, ids, vectors, dims, rows, k, opts)
}

// restoreBlock is how many items Restore re-scores between two
// Options.DropPages calls.
const restoreBlock = 4096

// RestoreRows is RestoreContext for lists given as rows of ids: lists holds
// k entries per item (row-major, len(ids)·k), each the row in ids of a
// neighbour, or -1 for none. It spares a caller that stores lists as rows
// (the state snapshot) from turning them into ids and back: at a million
// items that is 20 M strings. The lists are only read.
func RestoreRows(ctx context.Context, ids []string, vectors []float32, dims int, lists []int32, k int, opts Options) (g *Graph, repaired []string, err error) {
	if k < 0 || len(lists) != len(ids)*k {
		return nil, nil, fmt.Errorf("neighbors: restore: %d list entries for %d ids of %d entries", len(lists), len(ids), k)
	}
	g, err = newGraph(ids, vectors, dims, opts, false)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	g.done = ctx.Done()
	defer endRestore(ctx, &g, &repaired, &err)
	g.dropPages() // checkUnit's pass
	opts = g.opts
	want := min(opts.K, len(ids)-1)
	n := int32(len(ids))
	isShort := make([]bool, len(ids))
	type scratch struct {
		cs   []int32
		sims []float32
	}
	bufs := make([]scratch, opts.Workers)
	for lo := 0; lo < len(ids); lo += restoreBlock {
		if g.stopped() {
			return g, nil, nil
		}
		hi := min(lo+restoreBlock, len(ids))
		parallel(opts.Workers, hi-lo, func(w, t int) {
			i := int32(lo + t)
			b := &bufs[w]
			b.cs = b.cs[:0]
			for _, j := range lists[int(i)*k : int(i+1)*k] {
				if j >= 0 && j < n && j != i && !slices.Contains(b.cs, j) {
					b.cs = append(b.cs, j)
				}
			}
			b.sims = append(b.sims[:0], make([]float32, len(b.cs))...)
			g.m.dots(i, b.cs, b.sims)
			for e, j := range b.cs {
				g.l.insert(i, j, b.sims[e], 0) // row i belongs to this worker alone
			}
			isShort[i] = len(b.cs) < want
		})
		g.dropPages()
	}
	var short []int32
	for i, s := range isShort {
		if s {
			short = append(short, int32(i))
		}
	}
	return g, g.finishRestore(short), nil
}

// endRestore ends a restore that watched ctx through g.done (deferred by
// RestoreRows and RestoreScored): the graph stops watching, and a restore
// cut short by ctx returns ctx's error and no graph.
func endRestore(ctx context.Context, g **Graph, repaired *[]string, err *error) {
	if *g != nil {
		(*g).done = nil
	}
	if *err == nil && ctx.Err() != nil {
		*g, *repaired, *err = nil, nil, fmt.Errorf("neighbors: restore: %w", ctx.Err())
	}
}

// finishRestore recomputes the rows a restore could not take as stored,
// estimates the recall on a sample as Build does, and returns the repaired
// rows' ids, sorted.
func (g *Graph) finishRestore(redo []int32) []string {
	live := g.live()
	g.recomputeRows(redo, live)
	g.dropPages()
	var repaired []string
	for _, i := range redo {
		repaired = append(repaired, g.ids[i])
	}
	g.recall = 1
	if size := g.opts.RestoreRecallSample; !g.exact && size >= 0 {
		if size == 0 {
			size = restoreRecallSample
		}
		sample := sampleOf(live, size, g.recallRNG())
		g.recall = g.sampleRecall(sample, g.exactRows(sample, live, g.opts.K, nil))
		g.dropPages()
	} else if !g.exact {
		g.recall = 0 // not measured: the caller measures it (MeasureRecall)
	}
	slices.Sort(repaired)
	return repaired
}

// recallRNG is the sample's random source: the same sample for the same
// seed.
func (g *Graph) recallRNG() *rand.Rand { return rand.New(rand.NewPCG(uint64(g.opts.Seed), 0x5eed)) }

// recallChunk is how many items MeasureRecall scores the sample against
// between two Options.DropPages calls and checks for cancellation.
const recallChunk = 16384

// MeasureRecall estimates the graph's recall@K as Restore does (size
// items against brute force over every item), for a caller that restored
// with RestoreRecallSample < 0 (no sample: Recall reports 0) and measures
// it apart, e.g. while it waits
// on other work: each sample item costs a pass over every vector, which at
// a million items is reading the whole matrix. It only reads the graph, so
// it may run concurrently with other readers (Neighbors, ListRows), never
// with Update. It scores the items chunk by chunk, calling
// Options.DropPages after each (a mapped matrix's pages do not pile up in
// the process), and returns ctx.Err() within a chunk once ctx is done.
// Exact graphs report 1 without a pass.
func (g *Graph) MeasureRecall(ctx context.Context, size int) (float64, error) {
	if g.exact {
		return 1, nil
	}
	live := g.live()
	sample := sampleOf(live, size, g.recallRNG())
	truth := newLists(len(sample), g.opts.K, &g.ids)
	for lo := 0; lo < len(live); lo += recallChunk {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		part := g.exactRows(sample, live[lo:min(lo+recallChunk, len(live))], g.opts.K, nil)
		for r := range sample {
			idx, sim := part.row(int32(r))
			for e, j := range idx {
				truth.insert(int32(r), j, sim[e], 0)
			}
		}
		g.dropPages()
	}
	return g.sampleRecall(sample, truth), nil
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

// RestoreScored is RestoreRows for lists stored with their similarities:
// sims holds, beside each entry of lists, the similarity the graph held for
// it (as ListRows gives them). They are taken as given, so no vector row is
// read for a row restored as stored: at a million items that spares a pass
// over the whole matrix. A row is recomputed by brute force, and its id
// returned in repaired, when it is not as a graph would have written it: an
// entry naming an unknown row, the item itself or a row twice, a similarity
// that is not a finite number in [-1.01, 1.01], or fewer than min(K, n-1)
// entries. The vectors must be unit rows already checked by the Graph the
// lists came from (they are not checked again: that too is a pass over
// every row). Recall is estimated as RestoreRows does.
func RestoreScored(ctx context.Context, ids []string, vectors []float32, dims int, lists []int32, sims []float32, k int, opts Options) (g *Graph, repaired []string, err error) {
	if k < 0 || len(lists) != len(ids)*k || len(sims) != len(lists) {
		return nil, nil, fmt.Errorf("neighbors: restore: %d list entries and %d similarities for %d ids of %d entries", len(lists), len(sims), len(ids), k)
	}
	g, err = newTrustedGraph(ids, vectors, dims, opts)
	if err != nil {
		return nil, nil, fmt.Errorf("restore: %w", err)
	}
	g.done = ctx.Done()
	defer endRestore(ctx, &g, &repaired, &err)
	opts = g.opts
	want := min(opts.K, len(ids)-1)
	n := int32(len(ids))
	bad := make([]bool, len(ids))
	parallel(opts.Workers, len(ids), func(_, t int) {
		i := int32(t)
		row, rowSims := lists[t*k:(t+1)*k], sims[t*k:(t+1)*k]
		used := 0
		for e, j := range row {
			if j == -1 {
				continue
			}
			s := rowSims[e]
			if j < 0 || j >= n || j == i || !(s >= -1.01 && s <= 1.01) || slices.Contains(row[:e], j) {
				bad[i] = true
				return
			}
			used++
		}
		if used < want {
			bad[i] = true
			return
		}
		for e, j := range row {
			if j >= 0 {
				g.l.insert(i, j, rowSims[e], 0) // row i belongs to this worker alone
			}
		}
	})
	if g.stopped() {
		return g, nil, nil
	}
	var redo []int32
	for i, b := range bad {
		if b {
			redo = append(redo, int32(i))
		}
	}
	return g, g.finishRestore(redo), nil
}

// ListRows lays a graph's lists out for storing them as RestoreScored takes
// them back: neighbours as positions in IDs() and similarities as the graph
// holds them (not truncated as Neighbors reports them), so a restored graph
// has exactly these lists. It is valid until the graph's next Update.
type ListRows struct {
	g   *Graph
	pos []int32 // the graph's row → position in IDs(), -1 for a removed item
}

// ListRows returns the graph's lists laid out for storing.
func (g *Graph) ListRows() *ListRows {
	pos := make([]int32, len(g.ids))
	p := int32(0)
	for i, id := range g.ids {
		if id == "" {
			pos[i] = -1
			continue
		}
		pos[i] = p
		p++
	}
	return &ListRows{g: g, pos: pos}
}

// Row fills rows and sims (of equal length k) with id's top-k, most similar
// first: positions in IDs() and similarities, -1 and 0 after the list's
// end. It reports false for an unknown id.
func (r *ListRows) Row(id string, rows []int32, sims []float32) bool {
	i, ok := r.g.index[id]
	if !ok {
		return false
	}
	idx, sim := r.g.l.row(i)
	n := min(len(idx), r.g.opts.K, len(rows))
	for e := range rows {
		if e < n {
			rows[e], sims[e] = r.pos[idx[e]], sim[e]
		} else {
			rows[e], sims[e] = -1, 0
		}
	}
	return true
}
