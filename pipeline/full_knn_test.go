package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestFullWithNeighborsFromElasticsearch: `full --neighbors es` takes every
// list from the node's kNN on the loaded index — self excluded, recall
// against the exact answer — while the alias still points at the previous
// index; it moves only at the end.
func TestFullWithNeighborsFromElasticsearch(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	const n, dims, model = 300, 32, "knn-model@1"
	gen := benchdata.NewVectors(dims, 30, 3)
	rows := map[string][]float32{}
	var ids []string
	var products []map[string]any
	for i := range n {
		id := fmt.Sprintf("k-%03d", i)
		ids = append(ids, id)
		rows[id] = make([]float32, dims)
		gen.Row(i, rows[id])
		products = append(products, map[string]any{"productId": id, "imageName": id + ".jpg"})
	}
	alias := estest.IndexName(t, "knnfull")
	cfg := pipeline.Config{CatalogPath: writeJSONFile(t, products[:n-10]), Vectors: []string{writeVectors(t, ids, rows, dims, model)},
		ES: &esindex.Config{URLs: []string{estest.URL()}}, Alias: alias, MaxSkipped: -1, OutDir: t.TempDir(), StateDir: t.TempDir()}
	first, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	cfg.CatalogPath = writeJSONFile(t, products)
	cfg.Neighbors = pipeline.NeighborsES
	var checked atomic.Int32
	cfg.Progress = func(stage string, total int) func(int) {
		if stage == "neighbors (es)" || stage == "index (lists)" {
			if live, err := esindex.AliasIndices(ctx, es, alias); err != nil || !slices.Equal(live, []string{first.Index.Live}) {
				t.Errorf("during %s the alias points at %v (%v), want still %s", stage, live, err, first.Index.Live)
			}
			checked.Add(1)
		}
		return func(int) {}
	}
	rep, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatalf("full --neighbors es: %v", err)
	}
	if checked.Load() != 2 {
		t.Errorf("checked the alias in %d stages, want the kNN and the list updates", checked.Load())
	}
	if rep.Index.Live == first.Index.Live || rep.Indexed != n {
		t.Errorf("live %s with %d documents, want a new index of %d", rep.Index.Live, rep.Indexed, n)
	}
	if live, _ := esindex.AliasIndices(ctx, es, alias); !slices.Equal(live, []string{rep.Index.Live}) {
		t.Errorf("after the run the alias points at %v, want %s", live, rep.Index.Live)
	}
	docs := readAll(t, es, alias)
	want := exactTopK(docs, 20)
	found, total := 0, 0
	for id, doc := range docs {
		if len(doc.SimilarPI) != 20 || slices.Contains(doc.SimilarPI, id) {
			t.Errorf("%s lists %d products (self included: %v), want 20 others", id, len(doc.SimilarPI), slices.Contains(doc.SimilarPI, id))
		}
		for _, pi := range want[id] {
			total++
			if slices.Contains(doc.SimilarPI, pi) {
				found++
			}
		}
	}
	recall := float64(found) / float64(total)
	if recall < 0.95 {
		t.Errorf("recall@20 of the kNN lists against the exact answer %.4f, want ≥ 0.95", recall)
	}
	if rep.Neighbors.Recall < 0.9 || rep.Snapshot == nil || !rep.Snapshot.Written {
		t.Errorf("report recall %.4f, snapshot %+v: want the sampled recall and a snapshot", rep.Neighbors.Recall, rep.Snapshot)
	}
	t.Logf("recall@20 %.4f (report's sample %.4f)", recall, rep.Neighbors.Recall)

	// The incremental on top of it finds nothing to do.
	cfg.Neighbors, cfg.Progress = "", nil
	again, err := pipeline.Incremental(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changes.New != 0 || !again.Snapshot.Used {
		t.Errorf("incremental after full --neighbors es: changes %+v, snapshot %+v", again.Changes, again.Snapshot)
	}
	if _, ok := again.StageSeconds["plan"]; !ok { // --vectors: comparing the rows is a stage of its own
		t.Errorf("stage_seconds %v has no plan", again.StageSeconds)
	}
}
