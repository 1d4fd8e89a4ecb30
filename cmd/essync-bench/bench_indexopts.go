package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
	"github.com/urfave/cli/v2"
)

func benchIndexOptsCommand() *cli.Command {
	return &cli.Command{
		Name:  "indexopts",
		Usage: "disk, memory, load time and kNN recall per dense_vector index_options type",
		Description: `Loads N synthetic clustered unit vectors (benchdata.Vectors, generated row by row,
never all in memory) into one fresh index per index_options type, with essync's
mapping and loader (esindex.Bulk + FinishLoad), then reports:
  load time (bulk, finish, optional force-merge to one segment),
  disk: _stats store bytes and _disk_usage of image_vector, per product,
  memory: segment file sizes by extension (vec raw floats, veq/veb quantised,
    vex graph, …) — what the vectors need in page cache — and JVM heap used,
  recall@k of a kNN query (k, num_candidates) on held-out query vectors
  against the exact top-k, computed by brute force over the same rows.`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "n", Value: 100000, Usage: "products (vectors) per index"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "vector dimensions"},
			&cli.IntFlag{Name: "per-cluster", Value: 25, Usage: "average products per cluster of the synthetic vectors"},
			&cli.Uint64Flag{Name: "seed", Value: 42, Usage: "seed of the synthetic vectors"},
			&cli.StringSliceFlag{Name: "index-options", Value: cli.NewStringSlice("hnsw", "int8_hnsw", "bbq_hnsw"), Usage: "index_options types to measure, in order"},
			&cli.IntFlag{Name: "queries", Value: 200, Usage: "kNN queries for the recall"},
			&cli.IntFlag{Name: "k", Value: 10, Usage: "recall@k"},
			&cli.IntSliceFlag{Name: "num-candidates", Value: cli.NewIntSlice(100), Usage: "kNN num_candidates; repeat the flag for a sweep (one recall line each)"},
			&cli.BoolFlag{Name: "force-merge", Value: true, Usage: "force-merge to one segment before measuring size and recall"},
			&cli.IntFlag{Name: "workers", Value: 0, Usage: "essync bulk workers (0: the default)"},
		}, benchESFlags()...),
		Action: benchAction("indexopts", benchIndexOpts),
	}
}

func benchIndexOpts(c *cli.Context) error {
	ctx := c.Context
	es, cfg, err := benchClient(c)
	if err != nil {
		return err
	}
	n, dims, k := c.Int("n"), c.Int("dims"), c.Int("k")
	if n < 1 || dims < 1 || dims > mappings.MaxDims || k < 1 || c.Int("queries") < 1 {
		return fmt.Errorf("--n, --k and --queries must be positive and --dims in 1..%d", mappings.MaxDims)
	}
	gen := benchdata.NewVectors(dims, n/max(1, c.Int("per-cluster")), c.Uint64("seed"))
	w := c.App.Writer
	fmt.Fprintf(w, "bench indexopts: %d clustered unit vectors × %d dims (%.2f GB raw float32), node %s, load average %s\n",
		n, dims, float64(n)*float64(dims)*4/1e9, strings.Join(cfg.URLs, ","), loadAverage())
	// Held-out queries: rows n, n+1, … of the same generator (same clusters).
	queries := gen.Matrix(n, c.Int("queries"))
	start := time.Now()
	exact := exactTopK(gen, n, queries, k)
	fmt.Fprintf(w, "exact top-%d of %d queries by brute force: %.1f s\n", k, c.Int("queries"), time.Since(start).Seconds())
	prefix := benchName("indexopts")
	for _, opt := range c.StringSlice("index-options") {
		index := prefix + "-" + strings.ReplaceAll(opt, "_", "-")
		if err := measureIndexOption(c, es, gen, index, opt, n, queries, exact); err != nil {
			fmt.Fprintf(w, "  %-10s failed: %v\n", opt, err)
		}
		if !c.Bool("keep-index") {
			if err := deleteIndices(context.WithoutCancel(ctx), es, index); err != nil {
				return err
			}
		}
	}
	return nil
}

// exactTopK returns, for every query row, the ids (row numbers) of the k rows
// of gen 0..n-1 with the largest dot product, regenerating rows in parallel
// chunks so memory stays at a chunk.
func exactTopK(gen *benchdata.Vectors, n int, queries []float32, k int) [][]int {
	dims := gen.Dims
	nq := len(queries) / dims
	const chunk = 4096
	workers := 2
	best := make([][]*topRows, workers) // per worker, per query
	var wg sync.WaitGroup
	next := make(chan int)
	for w := range workers {
		best[w] = make([]*topRows, nq)
		for q := range nq {
			best[w][q] = newTopRows(k)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rows := make([]float32, chunk*dims)
			for first := range next {
				m := min(chunk, n-first)
				for r := range m {
					gen.Row(first+r, rows[r*dims:(r+1)*dims])
				}
				for q := range nq {
					qv := queries[q*dims : (q+1)*dims]
					for r := range m {
						best[w][q].offer(first+r, neighbors.Dot(qv, rows[r*dims:(r+1)*dims]))
					}
				}
			}
		}()
	}
	for first := 0; first < n; first += chunk {
		next <- first
	}
	close(next)
	wg.Wait()
	out := make([][]int, nq)
	for q := range nq {
		for w := 1; w < workers; w++ {
			best[0][q].merge(best[w][q])
		}
		out[q] = best[0][q].rows()
	}
	return out
}

// vectorDoc encodes one synthetic product: its id and vector, as essync's
// document would carry them (the catalog fields are left out: they do not
// change what the vector costs).
func vectorDoc(buf []byte, id string, v []float32) []byte {
	buf = append(buf[:0], `{"product_id":"`...)
	buf = append(buf, id...)
	buf = append(buf, `","image_vector":[`...)
	for i, x := range v {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = strconv.AppendFloat(buf, float64(x), 'g', -1, 32)
	}
	return append(buf, "]}"...)
}

func measureIndexOption(c *cli.Context, es *elasticsearch.Client, gen *benchdata.Vectors, index, opt string, n int, queries []float32, exact [][]int) error {
	ctx, w, dims := c.Context, c.App.Writer, gen.Dims
	body, err := mappings.Render(mappings.Options{Dims: dims, IndexOptions: opt, Model: "bench@synthetic"})
	if err != nil {
		return err
	}
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		return err
	}
	start := time.Now()
	last := start
	res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
		row := make([]float32, dims)
		for i := range n {
			gen.Row(i, row)
			if !yield(esindex.Op{ID: benchdata.ID(i), Body: vectorDoc(make([]byte, 0, dims*12), benchdata.ID(i), row)}) {
				return
			}
		}
	}, esindex.BulkOptions{Workers: c.Int("workers"), Progress: func(done int) {
		if time.Since(last) > time.Minute {
			last = time.Now()
			fmt.Fprintf(w, "    %s: %d/%d loaded, %.0f docs/s\n", opt, done, n, float64(done)/time.Since(start).Seconds())
		}
	}})
	if err == nil && res.Succeeded != n {
		err = fmt.Errorf("loaded %d of %d documents (%d failed)", res.Succeeded, n, len(res.Failed))
	}
	if err != nil {
		return err
	}
	bulk := time.Since(start)
	start = time.Now()
	if err := esindex.FinishLoad(ctx, es, index, 0, n); err != nil {
		return err
	}
	finish := time.Since(start)
	segments, _ := segmentCount(ctx, es, index)
	merge := time.Duration(0)
	if c.Bool("force-merge") {
		start = time.Now()
		if err := call(ctx, es, http.MethodPost, "/"+index+"/_forcemerge?max_num_segments=1", nil, nil); err != nil {
			return fmt.Errorf("force-merge: %w", err)
		}
		merge = time.Since(start)
		if err := esindex.Refresh(ctx, es, index); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "  %-10s index %s\n", opt, index)
	fmt.Fprintf(w, "  %-10s load: bulk %.1f s (%.0f docs/s) + finish %.1f s = %.1f s; %d segments; force-merge %.1f s\n",
		opt, bulk.Seconds(), float64(n)/bulk.Seconds(), finish.Seconds(), (bulk + finish).Seconds(), segments, merge.Seconds())
	// Disk.
	var stats struct {
		All struct {
			Primaries struct {
				Store struct {
					Size int64 `json:"size_in_bytes"`
				} `json:"store"`
				Segments struct {
					Count int `json:"count"`
					Files map[string]struct {
						Size        int64  `json:"size_in_bytes"`
						Description string `json:"description"`
					} `json:"file_sizes"`
				} `json:"segments"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	if err := call(ctx, es, http.MethodGet, "/"+index+"/_stats/store,segments?include_segment_file_sizes=true", nil, &stats); err != nil {
		return err
	}
	p := stats.All.Primaries
	var usage map[string]json.RawMessage
	if err := call(ctx, es, http.MethodPost, "/"+index+"/_disk_usage?run_expensive_tasks=true", nil, &usage); err != nil {
		return err
	}
	var du struct {
		Total  int64 `json:"store_size_in_bytes"`
		Fields map[string]struct {
			Total int64 `json:"total_in_bytes"`
			KNN   int64 `json:"knn_vectors_in_bytes"`
		} `json:"fields"`
	}
	json.Unmarshal(usage[index], &du)
	perDoc := func(b int64) string { return fmt.Sprintf("%.0f B", float64(b)/float64(n)) }
	fmt.Fprintf(w, "  %-10s disk: store %.2f GB = %s/product; _disk_usage image_vector %s/product (knn %s), product_id %s/product, _source %s/product; segments %d\n",
		opt, float64(p.Store.Size)/1e9, perDoc(p.Store.Size), perDoc(du.Fields["image_vector"].Total), perDoc(du.Fields["image_vector"].KNN),
		perDoc(du.Fields["product_id"].Total), perDoc(du.Fields["_source"].Total), p.Segments.Count)
	exts := slices.Sorted(func(yield func(string) bool) {
		for e := range p.Segments.Files {
			if !yield(e) {
				return
			}
		}
	})
	var vecFiles int64
	var parts []string
	for _, e := range exts {
		f := p.Segments.Files[e]
		if strings.HasPrefix(e, "ve") {
			vecFiles += f.Size
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", e, perDoc(f.Size), f.Description))
	}
	fmt.Fprintf(w, "  %-10s files per product: %s\n", opt, strings.Join(parts, "; "))
	var nodes struct {
		Nodes map[string]struct {
			JVM struct {
				Mem struct {
					HeapUsed int64 `json:"heap_used_in_bytes"`
				} `json:"mem"`
			} `json:"jvm"`
		} `json:"nodes"`
	}
	if err := call(ctx, es, http.MethodGet, "/_nodes/stats/jvm", nil, &nodes); err != nil {
		return err
	}
	var heap int64
	for _, nd := range nodes.Nodes {
		heap += nd.JVM.Mem.HeapUsed
	}
	var offHeap json.RawMessage
	_ = call(ctx, es, http.MethodGet, "/"+index+"/_stats/dense_vector?filter_path=_all.primaries.dense_vector", nil, &offHeap)
	// What searches touch: the whole vector field for hnsw; for the quantised
	// types the field minus the raw floats, which stay on disk (merges and
	// rescoring read them). Segment files give the split directly when they
	// are not compound (ve* files); _disk_usage always gives the field total.
	knn := du.Fields["image_vector"].KNN
	cache := knn
	if strings.Contains(opt, "int") || strings.Contains(opt, "bbq") {
		cache = knn - int64(n)*int64(dims)*4
	}
	fmt.Fprintf(w, "  %-10s memory: page cache for searches ≈ %s/product (%.2f GB; vector field %s/product minus raw floats for quantised types); non-compound ve* files %s/product; JVM heap used %.2f GB (whole node); dense_vector stats %s\n",
		opt, perDoc(cache), float64(cache)/1e9, perDoc(knn), perDoc(vecFiles), float64(heap)/1e9, offHeap)
	// Recall, once per num_candidates of the sweep.
	for _, candidates := range c.IntSlice("num-candidates") {
		if err := measureRecall(c, es, index, opt, queries, exact, candidates); err != nil {
			return err
		}
	}
	return nil
}

// measureRecall runs every query with num_candidates candidates and prints
// recall@k against the exact top-k and the mean query time.
func measureRecall(c *cli.Context, es *elasticsearch.Client, index, opt string, queries []float32, exact [][]int, candidates int) error {
	k, nq := len(exact[0]), len(exact)
	dims := len(queries) / nq
	var hits int
	var took time.Duration
	for q := range nq {
		qv := queries[q*dims : (q+1)*dims]
		got, d, err := knnSearch(c.Context, es, index, qv, k, candidates)
		if err != nil {
			return err
		}
		took += d
		want := map[string]bool{}
		for _, r := range exact[q] {
			want[benchdata.ID(r)] = true
		}
		for _, id := range got {
			if want[id] {
				hits++
			}
		}
	}
	fmt.Fprintf(c.App.Writer, "  %-10s recall@%d (num_candidates %d, %d queries): %.4f; mean query %.1f ms\n",
		opt, k, candidates, nq, float64(hits)/float64(nq*k), float64(took.Milliseconds())/float64(nq))
	return nil
}

// knnSearch runs one kNN query and returns the ids found, best first.
func knnSearch(ctx context.Context, es *elasticsearch.Client, index string, v []float32, k, candidates int) ([]string, time.Duration, error) {
	body, _ := json.Marshal(map[string]any{
		"knn":     map[string]any{"field": "image_vector", "query_vector": v, "k": k, "num_candidates": candidates},
		"size":    k,
		"_source": false,
	})
	var res struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	start := time.Now()
	if err := call(ctx, es, http.MethodPost, "/"+index+"/_search", body, &res); err != nil {
		return nil, 0, err
	}
	took := time.Since(start)
	ids := make([]string, len(res.Hits.Hits))
	for i, h := range res.Hits.Hits {
		ids[i] = h.ID
	}
	return ids, took, nil
}

func segmentCount(ctx context.Context, es *elasticsearch.Client, index string) (int, error) {
	var s struct {
		All struct {
			Primaries struct {
				Segments struct {
					Count int `json:"count"`
				} `json:"segments"`
			} `json:"primaries"`
		} `json:"_all"`
	}
	err := call(ctx, es, http.MethodGet, "/"+index+"/_stats/segments", nil, &s)
	return s.All.Primaries.Segments.Count, err
}

// call sends one request through the client and decodes a 2xx answer into
// out (nil: discard), or fails with the answer's text.
func call(ctx context.Context, es *elasticsearch.Client, method, path string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := es.Perform(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if res.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %s %.500s", method, path, res.Status, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
