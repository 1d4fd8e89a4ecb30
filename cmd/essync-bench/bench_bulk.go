package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/urfave/cli/v2"
)

func benchBulkCommand() *cli.Command {
	return &cli.Command{
		Name:  "bulk",
		Usage: "essync's bulk loader against raw _bulk requests, and load time per index_options type",
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "n", Value: 5000, Usage: "documents per load"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "vector dimensions"},
			&cli.IntSliceFlag{Name: "batch", Value: cli.NewIntSlice(250, 500, 1000, 2000), Usage: "raw baseline batch sizes (documents per request) to try; the best is kept"},
			&cli.IntFlag{Name: "raw-workers", Value: 2, Usage: "concurrent raw _bulk requests (essync's default bulk workers is 2)"},
			&cli.IntFlag{Name: "workers", Value: 0, Usage: "essync bulk workers (0: the default essync full uses)"},
			&cli.IntFlag{Name: "rounds", Value: 5, Usage: "essync/raw rounds after the batch-size search; the median ratio counts"},
			&cli.BoolFlag{Name: "matched", Value: true, Usage: "also time essync with its flush size matched to the best raw batch"},
			&cli.StringFlag{Name: "throughput-index-options", Value: "hnsw", Usage: "index_options of the throughput runs (hnsw as essync full uses it; flat isolates the loader from graph building)"},
			&cli.StringSliceFlag{Name: "index-options", Value: cli.NewStringSlice("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw"), Usage: "index_options types to time (empty: skip)"},
		}, benchESFlags()...),
		Action: benchAction("bulk", benchBulk),
	}
}

// benchDoc is one synthetic document, shaped like essync's.
type benchDoc struct {
	ID   string
	Body []byte
}

// benchDocuments makes n documents like the ones essync writes: a random unit
// vector, 20 similar products with scores, and a few catalog fields.
func benchDocuments(n, dims int) []benchDoc {
	r := rand.New(rand.NewPCG(1, 2))
	docs := make([]benchDoc, n)
	for i := range docs {
		id := fmt.Sprintf("p-%06d", i)
		v := randomUnit(r, dims)
		var b bytes.Buffer
		sha := r.Uint64()
		fmt.Fprintf(&b, `{"essync":{"image_sha256":"%064x","model":"bench@synthetic","synced_at":"2026-11-28T00:00:00Z"},"image_name":"%s.jpg","image_vector":[`, sha, id)
		b.Write(appendVector(nil, v))
		type sim struct {
			PI         string  `json:"pi"`
			Similarity float32 `json:"similarity"`
		}
		pis, sims := make([]string, 20), make([]sim, 20)
		for k := range pis {
			pis[k] = fmt.Sprintf("p-%06d", r.IntN(n))
			sims[k] = sim{pis[k], float32(math.Trunc((0.95-0.01*float64(k))*10000) / 10000)}
		}
		pj, _ := json.Marshal(pis)
		sj, _ := json.Marshal(sims)
		fmt.Fprintf(&b, `],"price":%.2f,"product_id":"%s","shop":"shop-%d","similar":%s,"similar_pi":%s,"title":"Synthetic product %d"}`,
			float64(r.IntN(100000))/100, id, i%7, sj, pj, i)
		docs[i] = benchDoc{ID: id, Body: b.Bytes()}
	}
	return docs
}

// loadTiming is one timed load of all documents into a fresh index.
type loadTiming struct {
	Bulk, Finish time.Duration
}

func (t loadTiming) rate(n int) float64 { return float64(n) / t.Bulk.Seconds() }

func benchBulk(c *cli.Context) error {
	ctx := c.Context
	es, cfg, err := benchClient(c)
	if err != nil {
		return err
	}
	n, dims := c.Int("n"), c.Int("dims")
	if n < 1 || dims < 1 || dims > mappings.MaxDims {
		return fmt.Errorf("--n must be positive and --dims in 1..%d", mappings.MaxDims)
	}
	docs := benchDocuments(n, dims)
	size := 0
	for _, d := range docs {
		size += len(d.Body)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "bench bulk: %d documents of %d dims (%.1f MiB of JSON), node %s\n", n, dims, float64(size)/(1<<20), esindex.RedactURL(cfg.URLs[0]))
	prefix := benchName("bulk")
	seq := 0
	load := func(indexOptions string, finish bool, send func(index string) error) (loadTiming, error) {
		seq++
		index := fmt.Sprintf("%s-%d", prefix, seq)
		body, err := mappings.Render(mappings.Options{Dims: dims, IndexOptions: indexOptions, Model: "bench@synthetic"})
		if err != nil {
			return loadTiming{}, err
		}
		if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
			return loadTiming{}, err
		}
		if !c.Bool("keep-index") {
			defer deleteIndices(context.WithoutCancel(ctx), es, index)
		}
		var t loadTiming
		start := time.Now()
		if err := send(index); err != nil {
			return t, err
		}
		t.Bulk = time.Since(start)
		if finish {
			start = time.Now()
			err = esindex.FinishLoad(ctx, es, index, 0, n)
			t.Finish = time.Since(start)
		} else {
			// Not timed: check every document arrived, so no run is fast by losing some.
			err = esindex.FinishLoad(ctx, es, index, 0, n)
		}
		return t, err
	}
	essyncWith := func(opts esindex.BulkOptions) func(index string) error {
		return func(index string) error {
			res, err := esindex.Bulk(ctx, es, index, func(yield func(esindex.Op) bool) {
				for _, d := range docs {
					if !yield(esindex.Op{Action: "index", ID: d.ID, Body: d.Body}) {
						return
					}
				}
			}, opts)
			if err == nil && (res.Succeeded != n || len(res.Failed) > 0) {
				err = fmt.Errorf("essync loaded %d of %d documents", res.Succeeded, n)
			}
			if res.Retried > 0 {
				fmt.Fprintf(w, "    (essync: %d requests, %d item retries in %d rounds)\n", res.Requests, res.Retried, res.Rounds)
			}
			return err
		}
	}
	essync := essyncWith(esindex.BulkOptions{Workers: c.Int("workers")}) // 0: the defaults essync full uses
	raw := func(batch int) func(index string) error {
		bodies := ndjsonBatches(docs, batch)
		return func(index string) error { return postBulk(ctx, cfg, index, bodies, c.Int("raw-workers")) }
	}

	mapping := c.String("throughput-index-options")
	fmt.Fprintf(w, "throughput runs use index_options %s; load average at the start: %s\n", mapping, loadAverage())
	// 1. The raw baseline's best batch size.
	best, bestRate := 0, 0.0
	for _, batch := range c.IntSlice("batch") {
		t, err := load(mapping, false, raw(batch))
		if err != nil {
			return fmt.Errorf("raw batch %d: %w", batch, err)
		}
		fmt.Fprintf(w, "  raw _bulk, %5d docs/request, %d workers: %7.0f docs/s\n", batch, c.Int("raw-workers"), t.rate(n))
		if t.rate(n) > bestRate {
			best, bestRate = batch, t.rate(n)
		}
	}
	// 2. essync against the best raw, in rounds whose order rotates, so
	// drift in the machine's load hits all alike; the median of the
	// per-round ratios is the result. A third contender, essync with its
	// flush size matched to the raw batch, separates the loader's own cost
	// from the choice of request size.
	matched := esindex.BulkOptions{Workers: c.Int("workers"), FlushBytes: (size/n + 30) * best}
	contenders := []struct {
		name string
		send func(string) error
	}{{"essync Bulk", essync}, {"raw _bulk", raw(best)}, {"essync matched", essyncWith(matched)}}
	if !c.Bool("matched") {
		contenders = contenders[:2]
	}
	rates := make([][]float64, len(contenders))
	var ratios, matchedRatios []float64
	for round := range c.Int("rounds") {
		got := make([]float64, len(contenders))
		for k := range contenders {
			j := (round + k) % len(contenders)
			t, err := load(mapping, false, contenders[j].send)
			if err != nil {
				return fmt.Errorf("%s: %w", contenders[j].name, err)
			}
			got[j] = t.rate(n)
			rates[j] = append(rates[j], got[j])
			fmt.Fprintf(w, "  round %d %-15s %7.0f docs/s\n", round+1, contenders[j].name, got[j])
		}
		ratios = append(ratios, got[0]/got[1])
		if len(got) > 2 {
			matchedRatios = append(matchedRatios, got[2]/got[1])
		}
	}
	if len(ratios) > 0 {
		fmt.Fprintf(w, "throughput (medians of %d rounds): essync %.0f docs/s, raw %.0f docs/s at %d docs/request → ratio %.2f (rounds: %s; target ≥ 0.90)\n",
			len(ratios), median(rates[0]), median(rates[1]), best, median(ratios), formatRatios(ratios))
	}
	if len(matchedRatios) > 0 {
		fmt.Fprintf(w, "essync with --bulk-bytes %d (the raw batch's size): %.0f docs/s → ratio %.2f (rounds: %s)\n",
			matched.FlushBytes, median(rates[2]), median(matchedRatios), formatRatios(matchedRatios))
	}
	fmt.Fprintf(w, "load average at the end: %s\n", loadAverage())
	// 3. index_options: load until FinishLoad returns (refresh included).
	opts := slices.DeleteFunc(c.StringSlice("index-options"), func(s string) bool { return strings.TrimSpace(s) == "" })
	if len(opts) > 0 {
		fmt.Fprintf(w, "load time by index_options (essync Bulk + FinishLoad, %d docs):\n", n)
		base := 0.0
		for _, o := range opts {
			t, err := load(o, true, essync)
			if err != nil {
				fmt.Fprintf(w, "  %-10s failed: %v\n", o, err)
				continue
			}
			total := (t.Bulk + t.Finish).Seconds()
			if base == 0 {
				base = total
			}
			fmt.Fprintf(w, "  %-10s bulk %6.2f s + finish %5.2f s = %6.2f s (%.2f× the first)\n", o, t.Bulk.Seconds(), t.Finish.Seconds(), total, total/base)
		}
	}
	return nil
}

// ndjsonBatches pre-builds the _bulk request bodies, batch documents each.
func ndjsonBatches(docs []benchDoc, batch int) [][]byte {
	var out [][]byte
	for start := 0; start < len(docs); start += batch {
		var b bytes.Buffer
		for _, d := range docs[start:min(start+batch, len(docs))] {
			fmt.Fprintf(&b, `{"index":{"_id":"%s"}}`+"\n", d.ID)
			b.Write(d.Body)
			b.WriteByte('\n')
		}
		out = append(out, b.Bytes())
	}
	return out
}

// postBulk posts the bodies to index/_bulk with plain net/http, workers at a
// time, to the first node of cfg (with its credentials), and fails on any
// item error.
func postBulk(ctx context.Context, cfg esindex.Config, index string, bodies [][]byte, workers int) error {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	next := make(chan []byte)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range next {
				if err := postOne(ctx, client, cfg, strings.TrimRight(cfg.URLs[0], "/")+"/"+index+"/_bulk", body); err != nil {
					errs <- err
					for range next {
					}
					return
				}
			}
		}()
	}
	for _, b := range bodies {
		next <- b
	}
	close(next)
	wg.Wait()
	close(errs)
	return <-errs
}

func postOne(ctx context.Context, client *http.Client, cfg esindex.Config, url string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	switch {
	case cfg.APIKey != "":
		req.Header.Set("Authorization", "ApiKey "+cfg.APIKey)
	case cfg.Username != "":
		req.SetBasicAuth(cfg.Username, cfg.Password)
	}
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("raw _bulk: %w", err)
	}
	defer res.Body.Close()
	answer, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("raw _bulk: %w", err)
	}
	var r struct {
		Errors bool `json:"errors"`
	}
	if res.StatusCode != http.StatusOK || json.Unmarshal(answer, &r) != nil || r.Errors {
		return fmt.Errorf("raw _bulk: %s: %.300s", res.Status, answer)
	}
	return nil
}

func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func formatRatios(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

// randomUnit is a random direction in dims dimensions as float32, the
// synthetic vectors of the bulk and list-change benchmarks.
func randomUnit(r *rand.Rand, dims int) []float32 {
	v := make([]float64, dims)
	var norm float64
	for k := range v {
		v[k] = r.NormFloat64()
		norm += v[k] * v[k]
	}
	norm = math.Sqrt(norm)
	out := make([]float32, dims)
	for k, x := range v {
		out[k] = float32(x / norm)
	}
	return out
}

// appendVector appends v's values to b as JSON numbers separated by commas
// (the inside of a JSON array), each the shortest text of its float32.
func appendVector(b []byte, v []float32) []byte {
	for k, x := range v {
		if k > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendFloat(b, float64(x), 'g', -1, 32)
	}
	return b
}
