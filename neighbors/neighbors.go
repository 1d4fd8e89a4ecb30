package neighbors

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Neighbor is one similar item: its id and the cosine similarity, truncated
// to 4 decimals like the old pipeline (int(s*10000)/10000).
type Neighbor struct {
	ID         string
	Similarity float32
}

// Options tunes Build. The zero value asks for K=20 at recall 0.99.
type Options struct {
	// K is how many neighbours each item gets (default 20).
	K int
	// Exact computes the true top-K by brute force (also the recall reference).
	Exact bool
	// Recall is the recall@K the approximate search raises its effort to reach
	// (default 0.99 unless Trees or Rounds are set, which then fix the effort).
	Recall float64
	// Trees, LeafSize and Rounds are the forest's knobs; 0 picks them
	// automatically. Trees (with Rounds) fixes the effort instead of letting
	// the recall targeting raise it. LeafSize, the most items a tree's leaf
	// holds, defaults to a size that grows with the number of items N: the
	// largest power of two up to N/256, at least max(32, K+12) and at most
	// 4096 (256 at 100 000 items, 1 024 at 300 000, 2 048 at 1 M), so a tree
	// stays 8–9 levels deep up to about a million items and each tree finds
	// as large a share of the true neighbours as N grows (BENCHMARKS.md §13).
	// A set LeafSize is used as given (32 was the default before; with it
	// recall falls as N grows).
	Trees, LeafSize, Rounds int
	// Seed makes the approximate search reproducible.
	Seed int64
	// Workers bounds the goroutines used (default GOMAXPROCS).
	Workers int
	// DropPages, when set, is called after each pass of the build over the
	// input vectors and, in the coarse phase (principal.go), after every few
	// random reads of them. A caller whose vectors are a read-only file
	// mapping drops the mapping's resident pages there (madvise), so that
	// while the search's own memory is at its largest the process does not
	// also hold the file; the pages stay in the page cache. (A random read
	// of one row maps the page cache's whole folio around it, about 1 MiB
	// here, so a few thousand random reads map the whole file.) Nil for
	// vectors on the heap.
	DropPages func()
	// RestoreRecallSample is how many items Restore checks against brute
	// force for the recall it reports (0: 256). Each costs a pass over every
	// vector, so a caller that restores on every run (an incremental update
	// at a million items: ≈ 25 s for 256) may take fewer for a rougher
	// figure.
	RestoreRecallSample int
}

// restoreRecallSample is RestoreRecallSample's default.
const restoreRecallSample = 256

// recallDropEvery is how many sample items the coarse phase's recall
// measurement re-scores (each reading K·3/2 to 3K full rows at random)
// between two Options.DropPages calls.
const recallDropEvery = 8

// exactBelow is the size under which brute force is faster than the
// approximate search (measured crossover ≈ 20 000 items at 1280 dims; both
// scale with the dimension), so smaller inputs get exact results.
const exactBelow = 16000

// unitTolerance is how far a row's squared norm may stray from 1.
const unitTolerance = 1e-3

// matrix is the row store: rows[i] is item i's vector, nil once removed.
type matrix struct {
	rows [][]float32
	dims int
}

// Graph is every item's top-K most similar other items, self excluded, most
// similar first. Build it once, then keep it current with Update.
type Graph struct {
	opts   Options
	ids    []string
	index  map[string]int32
	m      matrix
	l      *lists
	recall float64
	exact  bool
	done   <-chan struct{} // closed when the caller cancels; nil: never
	// coarseRounds and fineRounds count the approximate build's descent
	// rounds in the principal subspace and on the full rows.
	coarseRounds, fineRounds int
}

// dropPages calls Options.DropPages, if set.
func (g *Graph) dropPages() {
	if g.opts.DropPages != nil {
		g.opts.DropPages()
	}
}

// stopped reports whether the caller cancelled the current call: the long
// loops check it between blocks of work and give up early.
func (g *Graph) stopped() bool {
	select {
	case <-g.done:
		return true
	default:
		return false
	}
}

// Build computes every item's top-K. vectors holds len(ids) unit-length rows of
// dims floats, row-major; the Graph keeps a reference to it instead of copying,
// so the caller must not modify it afterwards.
func Build(ids []string, vectors []float32, dims int, opts Options) (*Graph, error) {
	return BuildContext(context.Background(), ids, vectors, dims, opts)
}

// BuildContext is Build that stops early when ctx is cancelled, returning
// ctx.Err() within about one block of work (milliseconds), so a run can stop
// cleanly on a signal even in the middle of a long search.
func BuildContext(ctx context.Context, ids []string, vectors []float32, dims int, opts Options) (*Graph, error) {
	g, err := newGraph(ids, vectors, dims, opts, true)
	if err != nil {
		return nil, err
	}
	g.done = ctx.Done()
	defer func() { g.done = nil }()
	g.dropPages() // checkUnit's pass
	defer g.dropPages()
	live := g.live()
	if g.exact {
		g.exactAll(live)
		g.recall = 1
	} else {
		g.recall = g.approximate(live)
		// The search may have widened its working lists to 3K; the graph
		// keeps 1.5K (the entries beyond K spare Update some repairs), and
		// the rest is freed for the stages that follow.
		g.l.shrink(g.opts.K + (g.opts.K+1)/2)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("neighbors: %w", err)
	}
	return g, nil
}

// newGraph validates the input and returns a Graph with empty lists, shared
// by Build and Restore. wide gives an approximate graph working lists longer
// than K for the search; a restored graph's lists hold K entries, which is
// all Update needs, so it saves the rest (120 bytes an item at K=20).
func newGraph(ids []string, vectors []float32, dims int, opts Options, wide bool) (*Graph, error) {
	return makeGraph(ids, vectors, dims, opts, wide, true)
}

// newTrustedGraph is newGraph without the unit-length check (a pass over
// every row), for vectors a Graph already checked; the lists hold K entries.
func newTrustedGraph(ids []string, vectors []float32, dims int, opts Options) (*Graph, error) {
	return makeGraph(ids, vectors, dims, opts, false, false)
}

// makeGraph is newGraph, checking that every row is a unit vector only when
// check is set.
func makeGraph(ids []string, vectors []float32, dims int, opts Options, wide, check bool) (*Graph, error) {
	opts, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	if dims <= 0 {
		return nil, fmt.Errorf("neighbors: dims must be positive, got %d", dims)
	}
	if len(vectors) != len(ids)*dims {
		return nil, fmt.Errorf("neighbors: %d floats for %d ids of %d dims, want %d", len(vectors), len(ids), dims, len(ids)*dims)
	}
	g := &Graph{opts: opts, index: make(map[string]int32, len(ids)), m: matrix{dims: dims}}
	g.ids = slices.Clone(ids)
	g.m.rows = make([][]float32, len(ids))
	for i, id := range ids {
		if err := g.addID(id, int32(i)); err != nil {
			return nil, err
		}
		g.m.rows[i] = vectors[i*dims : (i+1)*dims : (i+1)*dims]
	}
	if check {
		if err := checkUnit(g.m.rows, ids, opts.Workers); err != nil {
			return nil, err
		}
	}
	g.exact = opts.Exact || len(ids) < exactBelow
	width := opts.K
	if !g.exact && wide {
		// The approximate search keeps longer lists than it reports: the
		// extra entries give the descent more paths to the true top-K.
		width = opts.K + (opts.K+1)/2
	}
	g.l = newLists(len(ids), width, &g.ids)
	return g, nil
}

func normalize(o Options) (Options, error) {
	if o.K == 0 {
		o.K = 20
	}
	if o.K < 0 {
		return o, fmt.Errorf("neighbors: K must be positive, got %d", o.K)
	}
	if o.Recall < 0 || o.Recall > 1 || math.IsNaN(o.Recall) {
		return o, fmt.Errorf("neighbors: recall target must be in (0, 1], got %v", o.Recall)
	}
	if o.Trees < 0 || o.LeafSize < 0 || o.Rounds < 0 {
		return o, errors.New("neighbors: trees, leaf size and rounds must not be negative")
	}
	if o.Recall == 0 && o.Trees == 0 && o.Rounds == 0 {
		o.Recall = 0.99
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o, nil
}

func (g *Graph) addID(id string, i int32) error {
	if id == "" {
		return fmt.Errorf("neighbors: row %d has an empty id", i)
	}
	if j, dup := g.index[id]; dup {
		return fmt.Errorf("neighbors: id %q appears at rows %d and %d", id, j, i)
	}
	g.index[id] = i
	return nil
}

// checkUnit rejects rows that are not unit length (or not finite): cosine is
// computed as a plain dot product, so they would give wrong similarities.
func checkUnit(rows [][]float32, ids []string, workers int) error {
	var mu sync.Mutex
	bad := -1
	parallel(workers, len(rows), func(_, i int) {
		var s float64
		for _, v := range rows[i] {
			s += float64(v) * float64(v)
		}
		if !(math.Abs(s-1) <= unitTolerance) {
			mu.Lock()
			if bad < 0 || i < bad {
				bad = i
			}
			mu.Unlock()
		}
	})
	if bad >= 0 {
		var s float64
		for _, v := range rows[bad] {
			s += float64(v) * float64(v)
		}
		return fmt.Errorf("neighbors: row %d (id %q) has norm %.6g, want unit length: L2-normalise the vectors first", bad, ids[bad], math.Sqrt(s))
	}
	return nil
}

// Neighbors returns id's top-K, most similar first (ties by id), or nil for
// an unknown id.
func (g *Graph) Neighbors(id string) []Neighbor {
	i, ok := g.index[id]
	if !ok {
		return nil
	}
	return g.neighborsOf(i)
}

// neighborsOf is Neighbors by row index.
func (g *Graph) neighborsOf(i int32) []Neighbor {
	idx, sim := g.l.row(i)
	idx, sim = idx[:min(len(idx), g.opts.K)], sim[:min(len(sim), g.opts.K)]
	out := make([]Neighbor, len(idx))
	for t, j := range idx {
		out[t] = Neighbor{ID: g.ids[j], Similarity: truncate(sim[t])}
	}
	slices.SortStableFunc(out, func(a, b Neighbor) int {
		if a.Similarity != b.Similarity {
			if a.Similarity > b.Similarity {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// IDs returns the ids in the graph, in row order (removed items left out).
func (g *Graph) IDs() []string {
	out := make([]string, 0, len(g.index))
	for _, id := range g.ids {
		if id != "" {
			out = append(out, id)
		}
	}
	return out
}

// Len is the number of items in the graph.
func (g *Graph) Len() int { return len(g.index) }

// Recall is the recall@K measured against brute force on a random sample of
// items when the graph was built (1 for exact graphs).
func (g *Graph) Recall() float64 { return g.recall }

// Exact reports whether the graph was computed by brute force.
func (g *Graph) Exact() bool { return g.exact }

// truncate rounds a similarity toward zero to 4 decimals, like the old tool.
func truncate(s float32) float32 {
	return float32(math.Trunc(float64(s)*10000) / 10000)
}

// live lists the indices of the items still present.
func (g *Graph) live() []int32 {
	out := make([]int32, 0, len(g.index))
	for i, r := range g.m.rows {
		if r != nil {
			out = append(out, int32(i))
		}
	}
	return out
}

// parallel runs fn(worker, i) for i in [0, n) on up to workers goroutines,
// handing out indices dynamically so uneven items balance.
func parallel(workers, n int, fn func(worker, i int)) {
	workers = max(1, min(workers, n))
	if workers == 1 {
		for i := range n {
			fn(0, i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}
