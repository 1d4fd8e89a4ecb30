package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/vectors"
	"github.com/urfave/cli/v2"
)

func benchKNNCommand() *cli.Command {
	return &cli.Command{
		Name:  "knn",
		Usage: "every product's top-K: Elasticsearch's kNN (--neighbors es) against essync's forest, recall against brute force",
		Description: `N synthetic clustered unit vectors (benchdata.Vectors): the neighbors package's
forest over all N (timed), then esindex.NeighborsByKNN on an index holding the
same vectors (--index: one essync-bench indexopts --keep-index left with the same
--n/--dims/--per-cluster/--seed; else it loads one, load time reported apart),
for --queries products spread evenly over the catalogue (all by default; fewer
to bound the run: its time then scales linearly to N, which the report does).
Recall@K of both against the exact top-K of those products by brute force.`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "n", Value: 100000, Usage: "products"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "vector dimensions"},
			&cli.IntFlag{Name: "per-cluster", Value: 25, Usage: "average products per cluster of the synthetic vectors"},
			&cli.Uint64Flag{Name: "seed", Value: 42, Usage: "seed of the synthetic vectors"},
			&cli.StringFlag{Name: "index", Usage: "existing index holding exactly these vectors (default: load a new hnsw one)"},
			&cli.StringFlag{Name: "index-options", Value: "hnsw", Usage: "index_options of the index this benchmark loads"},
			&cli.IntFlag{Name: "k", Value: 20, Usage: "neighbours per product"},
			&cli.IntFlag{Name: "queries", Value: 0, Usage: "products the ES kNN pass queries and recall is measured on (0: all)"},
			&cli.IntSliceFlag{Name: "num-candidates", Value: cli.NewIntSlice(0), Usage: "kNN num_candidates, one ES pass each (0: esindex's default); repeat the flag for a sweep"},
			&cli.PathFlag{Name: "vectors", Usage: "take the products from this vectors folder (ids.json + vectors.npy, e.g. the --dir/vectors-after of incremental --vectors) instead of generating -n rows: for an --index an incremental has changed"},
			&cli.IntFlag{Name: "batch", Value: 0, Usage: "searches per _msearch (0: esindex's default)"},
			&cli.IntFlag{Name: "workers", Value: 0, Usage: "_msearch requests in flight (0: esindex's default)"},
			&cli.IntFlag{Name: "id-digits", Value: 6, Usage: "digits of the product ids p-<row> (7 for an --index kept by `full --vectors --keep-index`, with --per-cluster 6 --seed 1)"},
			&cli.BoolFlag{Name: "forest", Value: true, Usage: "also build essync's forest over all products for the comparison (--forest=false: only Elasticsearch's recall, e.g. on a kept 1 M index)"},
		}, benchESFlags()...),
		Action: benchAction("knn", benchKNN),
	}
}

func benchKNN(c *cli.Context) error {
	ctx, w := c.Context, c.App.Writer
	es, cfg, err := benchClient(c)
	if err != nil {
		return err
	}
	n, dims, k := c.Int("n"), c.Int("dims"), c.Int("k")
	var set *vectors.Set
	if dir := c.Path("vectors"); dir != "" {
		if set, err = vectors.Open(dir); err != nil {
			return err
		}
		defer set.Close()
		n, dims = len(set.IDs), set.Dims
	}
	q := c.Int("queries")
	if q <= 0 || q > n {
		q = n
	}
	if n < 2 || k < 1 || dims < 1 || dims > mappings.MaxDims {
		return fmt.Errorf("--n ≥ 2, --k ≥ 1 and --dims in 1..%d", mappings.MaxDims)
	}
	defer debug.SetGCPercent(debug.SetGCPercent(20))
	fmt.Fprintf(w, "bench knn: %d products × %d dims, k=%d, ES queries %d, node %s, load average %s\n", n, dims, k, q, strings.Join(cfg.URLs, ","), loadAverage())
	start := time.Now()
	var vecs []float32
	var ids []string
	if set != nil {
		vecs, ids = set.Matrix, set.IDs
		fmt.Fprintf(w, "vectors from %s\n", c.Path("vectors"))
	} else {
		vecs = benchdata.NewVectors(dims, n/max(1, c.Int("per-cluster")), c.Uint64("seed")).Matrix(0, n)
		ids = make([]string, n)
		for i := range ids {
			ids[i] = fmt.Sprintf("p-%0*d", c.Int("id-digits"), i)
		}
		fmt.Fprintf(w, "generated the vectors in %.1f s\n", time.Since(start).Seconds())
	}
	sample := make([]int, q)
	for j := range sample {
		sample[j] = int(int64(j) * int64(n) / int64(q))
	}
	start = time.Now()
	exact := exactLists(vecs, dims, sample, k)
	fmt.Fprintf(w, "exact top-%d of the %d queried products by brute force: %.1f s\n", k, q, time.Since(start).Seconds())

	// 1. Our forest over everything.
	var forest time.Duration
	if c.Bool("forest") {
		start = time.Now()
		g, err := neighbors.Build(ids, vecs, dims, neighbors.Options{K: k})
		if err != nil {
			return err
		}
		forest = time.Since(start)
		fmt.Fprintf(w, "  forest (neighbors.Build, recall target 0.99): %.1f s for all %d; recall@%d on the %d products %.4f\n",
			forest.Seconds(), n, k, q, recallOf(exact, sample, ids, func(id string) []neighbors.Neighbor { return g.Neighbors(id) }))
	}

	// 2. Elasticsearch's kNN.
	index := c.String("index")
	if index == "" {
		index = benchName("knn")
		start = time.Now()
		if err := loadVectors(ctx, es, index, c.String("index-options"), ids, vecs, dims); err != nil {
			return err
		}
		if !c.Bool("keep-index") {
			defer deleteIndices(context.WithoutCancel(ctx), es, index)
		}
		fmt.Fprintf(w, "  loaded %s (%s) in %.1f s (not part of the neighbour time: the index is loaded anyway)\n", index, c.String("index-options"), time.Since(start).Seconds())
	}
	for _, nc := range c.IntSlice("num-candidates") {
		got := make(map[string][]neighbors.Neighbor, q)
		var mu sync.Mutex
		start = time.Now()
		res, err := esindex.NeighborsByKNN(ctx, es, index, func(yield func(esindex.ProductVector) bool) {
			for _, i := range sample {
				if !yield(esindex.ProductVector{ID: ids[i], Vector: vecs[i*dims : (i+1)*dims]}) {
					return
				}
			}
		}, esindex.KNNOptions{K: k, NumCandidates: nc, Batch: c.Int("batch"), Workers: c.Int("workers")},
			func(id string, list []neighbors.Neighbor) error {
				mu.Lock()
				got[id] = list
				mu.Unlock()
				return nil
			})
		if err != nil {
			return err
		}
		took := time.Since(start)
		perQuery := took.Seconds() / float64(q)
		fmt.Fprintf(w, "  es kNN (num_candidates %d): %.1f s for %d products (%.2f ms each, %d requests, %d retried, %d short) → %.1f s for all %d; recall@%d %.4f\n",
			res.NumCandidates, took.Seconds(), q, perQuery*1000, res.Requests, res.Retried, res.Short, perQuery*float64(n), n, k,
			recallOf(exact, sample, ids, func(id string) []neighbors.Neighbor { return got[id] }))
		if forest > 0 {
			fmt.Fprintf(w, "  ratio es/forest for all %d: %.2f\n", n, perQuery*float64(n)/forest.Seconds())
		}
	}
	fmt.Fprintf(w, "  load average at the end %s\n", loadAverage())
	return nil
}

// recallOf is the share of the exact top-K of the sampled rows that lists found.
func recallOf(exact [][]int, sample []int, ids []string, lists func(string) []neighbors.Neighbor) float64 {
	hits, total := 0, 0
	for j, i := range sample {
		want := map[string]bool{}
		for _, r := range exact[j] {
			want[ids[r]] = true
		}
		total += len(want)
		for _, nb := range lists(ids[i]) {
			if want[nb.ID] {
				hits++
			}
		}
	}
	return float64(hits) / float64(max(total, 1))
}

// exactLists is the exact top-k (self excluded) of each sampled row over all
// rows of vecs, by brute force on two goroutines.
func exactLists(vecs []float32, dims int, sample []int, k int) [][]int {
	n := len(vecs) / dims
	out := make([][]int, len(sample))
	var wg sync.WaitGroup
	next := make(chan int)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range next {
				qi := sample[j]
				qv := vecs[qi*dims : (qi+1)*dims]
				top := newTopRows(k)
				for r := range n {
					if r != qi {
						top.offer(r, neighbors.Dot(qv, vecs[r*dims:(r+1)*dims]))
					}
				}
				out[j] = top.rows()
			}
		}()
	}
	for j := range sample {
		next <- j
	}
	close(next)
	wg.Wait()
	return out
}

// loadVectors loads ids and vectors into a new index with essync's mapping.
func loadVectors(ctx context.Context, es *elasticsearch.Client, index, opt string, ids []string, vecs []float32, dims int) error {
	body, err := mappings.Render(mappings.Options{Dims: dims, IndexOptions: opt, Model: "bench@synthetic"})
	if err != nil {
		return err
	}
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		return err
	}
	res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
		for i, id := range ids {
			if !yield(esindex.Op{ID: id, Body: vectorDoc(nil, id, vecs[i*dims:(i+1)*dims])}) {
				return
			}
		}
	}, esindex.BulkOptions{})
	if err == nil && res.Succeeded != len(ids) {
		err = fmt.Errorf("loaded %d of %d documents", res.Succeeded, len(ids))
	}
	if err != nil {
		return err
	}
	return esindex.FinishLoad(ctx, es, index, 0, len(ids))
}
