package main

import (
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"math"
	"math/rand/v2"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/urfave/cli/v2"
)

func benchListChangeCommand() *cli.Command {
	return &cli.Command{
		Name:  "listchange",
		Usage: "the cost of changing share of the similar lists: partial updates of the product documents (schema 2) against list documents in the similar index (schema 3)",
		Description: `Loads N synthetic products (random unit vectors, 20 similar products, a few
catalog fields) twice: as schema-2 product documents that carry their lists
(vector and lists in one document), and as schema-3 list documents in a
similar index (no vector). Then, in rounds whose order alternates, it writes
new lists for --share of the products both ways: (a) bulk partial updates of
the product documents, as incremental did before schema 3 (each re-indexes the
vector into HNSW), and (b) bulk index of the list documents. For each: bulk
time, refresh time, the merge tail (until the index has no running merge),
and the node's CPU over all three, with the ratio (a)/(b).`,
		Flags: append([]cli.Flag{
			&cli.IntFlag{Name: "n", Value: 100000, Usage: "products"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "vector dimensions"},
			&cli.Float64Flag{Name: "share", Value: 0.27, Usage: "share of the lists that change (0.27: what 1% new + 0.5% deleted products change)"},
			&cli.IntFlag{Name: "rounds", Value: 2, Usage: "rounds; each writes both ways, in alternating order"},
			&cli.StringFlag{Name: "index-options", Value: "hnsw", Usage: "index_options of the product index"},
		}, benchESFlags()...),
		Action: benchAction("listchange", benchListChange),
	}
}

// listChangeCost is what writing one batch of list changes cost.
type listChangeCost struct {
	Bulk, Refresh, Tail time.Duration
	CPU                 time.Duration // the node's process CPU over bulk, refresh and tail
	MergeTime           time.Duration // merge work the index's stats count over the same span
}

func (c listChangeCost) total() time.Duration { return c.Bulk + c.Refresh + c.Tail }

func benchListChange(c *cli.Context) error {
	ctx, w := c.Context, c.App.Writer
	es, cfg, err := benchClient(c)
	if err != nil {
		return err
	}
	n, dims, share := c.Int("n"), c.Int("dims"), c.Float64("share")
	if n < 2 || dims < 1 || dims > mappings.MaxDims || share <= 0 || share > 1 {
		return fmt.Errorf("--n ≥ 2, --dims in 1..%d and --share in (0, 1]", mappings.MaxDims)
	}
	opts := mappings.Options{Dims: dims, IndexOptions: c.String("index-options"), Model: "bench@synthetic", K: 20}
	prefix := benchName("listchange")
	products, lists := prefix+"-products", prefix+"-similar"
	if !c.Bool("keep-index") {
		defer deleteIndices(context.WithoutCancel(ctx), es, products, lists)
	}
	fmt.Fprintf(w, "bench listchange: %d products of %d dims (%s), %.0f%% of the lists change, node %s, load average %s\n",
		n, dims, opts.IndexOptions, share*100, esindex.RedactURL(cfg.URLs[0]), loadAverage())

	body, err := schema2Body(opts)
	if err != nil {
		return err
	}
	start := time.Now()
	if err := loadListBench(ctx, es, products, body, n, func(yield func(esindex.Op) bool) {
		for i := range n {
			if !yield(esindex.Op{Action: "index", ID: benchID(i), Body: schema2Document(i, n, dims)}) {
				return
			}
		}
	}); err != nil {
		return err
	}
	fmt.Fprintf(w, "  loaded the schema-2 product index in %.1f s (load average %s)\n", time.Since(start).Seconds(), loadAverage())
	body, err = mappings.RenderSimilar(opts, products)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := loadListBench(ctx, es, lists, body, n, listOps(n, 0, 1)); err != nil {
		return err
	}
	fmt.Fprintf(w, "  loaded the similar index in %.1f s\n", time.Since(start).Seconds())
	for _, index := range []string{products, lists} {
		if _, err := mergeTail(ctx, es, index, mergeWaitDefault); err != nil {
			return err
		}
	}

	changed := int(math.Round(share * float64(n)))
	var ratios, cpuRatios []float64
	for round := range c.Int("rounds") {
		seed := uint64(round + 1)
		ways := []struct {
			name  string
			index string
			ops   iter.Seq[esindex.Op]
		}{
			{"(a) partial update of the product document", products, updateOps(n, changed, seed)},
			{"(b) list document in the similar index", lists, listOps(n, changed, seed)},
		}
		if round%2 == 0 {
			ways[0], ways[1] = ways[1], ways[0]
		}
		got := map[string]listChangeCost{}
		for _, way := range ways {
			cost, err := writeListChange(ctx, es, way.index, way.ops, changed)
			if err != nil {
				return fmt.Errorf("%s: %w", way.name, err)
			}
			got[way.name[:3]] = cost
			fmt.Fprintf(w, "  round %d %-44s bulk %6.1f s + refresh %5.1f s + merge tail %5.1f s = %6.1f s; node CPU %6.1f s, merge work %5.1f s (load average %s)\n",
				round+1, way.name, cost.Bulk.Seconds(), cost.Refresh.Seconds(), cost.Tail.Seconds(), cost.total().Seconds(),
				cost.CPU.Seconds(), cost.MergeTime.Seconds(), loadAverage())
		}
		a, b := got["(a)"], got["(b)"]
		ratios = append(ratios, a.total().Seconds()/b.total().Seconds())
		cpuRatios = append(cpuRatios, a.CPU.Seconds()/max(b.CPU.Seconds(), 0.001))
	}
	fmt.Fprintf(w, "writing %d changed lists: (a)/(b) wall time %.1f× (rounds: %s), node CPU %.1f× (rounds: %s); load average %s\n",
		changed, median(ratios), formatRatios(ratios), median(cpuRatios), formatRatios(cpuRatios), loadAverage())
	return nil
}

// schema2Body is the product index as it was before schema 3: today's
// mapping plus the list fields and (until schema 4) group_size in the
// product document.
func schema2Body(opts mappings.Options) ([]byte, error) {
	b, err := mappings.Render(opts)
	if err != nil {
		return nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		return nil, err
	}
	props := body["mappings"].(map[string]any)["properties"].(map[string]any)
	props["similar_pi"] = map[string]any{"type": "keyword"}
	props["similar"] = map[string]any{"type": "object", "enabled": false}
	props["group_size"] = map[string]any{"type": "integer"}
	return json.Marshal(body)
}

func loadListBench(ctx context.Context, es *elasticsearch.Client, index string, body []byte, n int, ops iter.Seq[esindex.Op]) error {
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		return err
	}
	res, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{})
	if err == nil && res.Succeeded != n {
		err = fmt.Errorf("loaded %d of %d documents into %s", res.Succeeded, n, index)
	}
	if err != nil {
		return err
	}
	return esindex.FinishLoad(ctx, es, index, 0, n)
}

// writeListChange writes ops into index and measures bulk, refresh and the
// merge tail, and the node's CPU over them.
func writeListChange(ctx context.Context, es *elasticsearch.Client, index string, ops iter.Seq[esindex.Op], want int) (listChangeCost, error) {
	var cost listChangeCost
	cpu0, err := nodeCPU(ctx, es)
	if err != nil {
		return cost, err
	}
	merge0, _, err := mergeStats(ctx, es, index)
	if err != nil {
		return cost, err
	}
	start := time.Now()
	res, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{})
	if err == nil && res.Succeeded != want {
		err = fmt.Errorf("wrote %d of %d list changes", res.Succeeded, want)
	}
	if err != nil {
		return cost, err
	}
	cost.Bulk = time.Since(start)
	start = time.Now()
	if err := esindex.Refresh(ctx, es, index); err != nil {
		return cost, err
	}
	cost.Refresh = time.Since(start)
	if cost.Tail, err = mergeTail(ctx, es, index, mergeWaitDefault); err != nil {
		return cost, err
	}
	cpu1, err := nodeCPU(ctx, es)
	if err != nil {
		return cost, err
	}
	merge1, _, err := mergeStats(ctx, es, index)
	if err != nil {
		return cost, err
	}
	cost.CPU, cost.MergeTime = cpu1-cpu0, merge1-merge0
	return cost, nil
}

// mergeTail waits until index has had no running merge for a second (at
// most limit) and returns how long that took, the quiet second excluded.
func mergeTail(ctx context.Context, es *elasticsearch.Client, index string, limit time.Duration) (time.Duration, error) {
	start, quietSince := time.Now(), time.Time{}
	for time.Since(start) < limit {
		_, running, err := mergeStats(ctx, es, index)
		if err != nil {
			return 0, err
		}
		switch {
		case running > 0:
			quietSince = time.Time{}
		case quietSince.IsZero():
			quietSince = time.Now()
		case time.Since(quietSince) >= time.Second:
			return quietSince.Sub(start), nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, fmt.Errorf("%s still merging after %s", index, limit)
}

// mergeWaitDefault is how long mergeTail waits for an index's merges to end.
const mergeWaitDefault = 15 * time.Minute

// mergeStats returns the merge time index has spent so far and its running merges.
func mergeStats(ctx context.Context, es *elasticsearch.Client, index string) (total time.Duration, running int, err error) {
	res, err := es.Indices.Stats(es.Indices.Stats.WithIndex(index), es.Indices.Stats.WithMetric("merge"), es.Indices.Stats.WithContext(ctx))
	if err != nil {
		return 0, 0, fmt.Errorf("merge stats of %s: %w", index, err)
	}
	defer res.Body.Close()
	var s struct {
		All struct {
			Total struct {
				Merges struct {
					Current     int   `json:"current"`
					TotalMillis int64 `json:"total_time_in_millis"`
				} `json:"merges"`
			} `json:"total"`
		} `json:"_all"`
	}
	if res.IsError() {
		return 0, 0, fmt.Errorf("merge stats of %s: %s", index, res.Status())
	}
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return 0, 0, fmt.Errorf("merge stats of %s: %w", index, err)
	}
	m := s.All.Total.Merges
	return time.Duration(m.TotalMillis) * time.Millisecond, m.Current, nil
}

// nodeCPU is the CPU time the Elasticsearch processes have used so far, summed over nodes.
func nodeCPU(ctx context.Context, es *elasticsearch.Client) (time.Duration, error) {
	res, err := es.Nodes.Stats(es.Nodes.Stats.WithMetric("process"), es.Nodes.Stats.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("node stats: %w", err)
	}
	defer res.Body.Close()
	var s struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					TotalMillis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if res.IsError() {
		return 0, fmt.Errorf("node stats: %s", res.Status())
	}
	if err := json.NewDecoder(res.Body).Decode(&s); err != nil {
		return 0, fmt.Errorf("node stats: %w", err)
	}
	var total int64
	for _, node := range s.Nodes {
		total += node.Process.CPU.TotalMillis
	}
	return time.Duration(total) * time.Millisecond, nil
}

func benchID(i int) string { return fmt.Sprintf("p-%07d", i) }

// benchList is product i's similar list in version v: 20 random products
// with falling scores.
func benchList(i, n int, v uint64) (pis []string, sims []map[string]any) {
	r := rand.New(rand.NewPCG(uint64(i), v))
	for k := range 20 {
		pi := benchID(r.IntN(n))
		pis = append(pis, pi)
		sims = append(sims, map[string]any{"pi": pi, "similarity": math.Trunc((0.95-0.01*float64(k))*10000) / 10000})
	}
	return pis, sims
}

// schema2Document is product i as schema 2 stored it: vector, lists, group,
// bookkeeping and a few catalog fields.
func schema2Document(i, n, dims int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), 99))
	v := randomUnit(r, dims)
	id := benchID(i)
	b := fmt.Appendf(nil, `{"product_id":"%s","image_name":"%s.jpg","essync":{"image_sha256":"%064x","model":"bench@synthetic","synced_at":"2026-11-28T00:00:00Z"},"group_id":"g-%s","group_size":1,"image_vector":[`, id, id, r.Uint64(), id)
	b = appendVector(b, v)
	pis, sims := benchList(i, n, 0)
	pj, _ := json.Marshal(pis)
	sj, _ := json.Marshal(sims)
	return fmt.Appendf(b, `],"similar_pi":%s,"similar":%s,"title":"Synthetic product %d","shop":"shop-%d","price":%.2f}`, pj, sj, i, i%7, float64(r.IntN(100000))/100)
}

// changedIDs picks changed of the n products, the same ones for the same seed.
func changedIDs(n, changed int, seed uint64) []int {
	return rand.New(rand.NewPCG(seed, 7)).Perm(n)[:changed]
}

// listOps writes the list documents of the changed products (all n when
// changed is 0) in version seed (0 for the initial load).
func listOps(n, changed int, seed uint64) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		ids := changedIDs(n, changed, seed)
		if changed == 0 {
			ids = make([]int, n)
			for i := range ids {
				ids[i] = i
			}
		}
		for _, i := range ids {
			pis, sims := benchList(i, n, seed)
			body, _ := json.Marshal(map[string]any{"product_id": benchID(i), "similar_pi": pis, "similar": sims})
			if !yield(esindex.Op{Action: "index", ID: benchID(i), Body: body}) {
				return
			}
		}
	}
}

// updateOps are the schema-2 partial updates of the same changes, shaped as
// incremental wrote them (lists, group and synced_at).
func updateOps(n, changed int, seed uint64) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		for _, i := range changedIDs(n, changed, seed) {
			pis, sims := benchList(i, n, seed)
			body, _ := json.Marshal(map[string]any{"doc": map[string]any{
				"similar_pi": pis, "similar": sims, "group_id": "g-" + benchID(i), "group_size": 1,
				"essync": map[string]string{"synced_at": "2026-11-29T00:00:00Z"},
			}})
			if !yield(esindex.Op{Action: "update", ID: benchID(i), Body: body}) {
				return
			}
		}
	}
}
