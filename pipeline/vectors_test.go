package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/pipeline"
)

// writeVectors writes a vectors folder as essync embed does: rows[id] in
// the order of ids, named as made by model.
func writeVectors(t *testing.T, ids []string, rows map[string][]float32, dims int, model string) string {
	t.Helper()
	dir := t.TempDir()
	data := make([]float32, 0, len(ids)*dims)
	for _, id := range ids {
		data = append(data, rows[id]...)
	}
	if err := npy.WriteFile(filepath.Join(dir, "vectors.npy"), len(ids), dims, data); err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"ids.json": ids, "report.json": map[string]any{"model": model, "dims": dims}} {
		b, _ := json.Marshal(v)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func writeJSONFile(t *testing.T, v any) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "catalog.json")
	b, _ := json.Marshal(v)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFullAndIncrementalFromPrecomputedVectors runs full and incremental on
// vectors instead of images: products without a vector are skipped with a
// reason, vectors without a product reported, the index records the
// vectors' model, a changed vector counts as a change, incremental equals a
// full run, and a model mismatch asks for a full run.
func TestFullAndIncrementalFromPrecomputedVectors(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	const dims, model = 32, "precomputed-model@1"
	gen := benchdata.NewVectors(dims, 6, 7)
	row := func(i int) []float32 { v := make([]float32, dims); gen.Row(i, v); return v }
	rows := map[string][]float32{}
	var ids []string
	var products []map[string]any
	for i := range 60 {
		id := fmt.Sprintf("v-%03d", i)
		ids = append(ids, id)
		rows[id] = row(i)
		products = append(products, map[string]any{"productId": id, "imageName": id + ".jpg", "price": i})
	}
	// One product has a photo, so its image_sha256 is filled; the others' are
	// missing, which --vectors does not mind.
	images := t.TempDir()
	photo, err := os.ReadFile(filepath.Join(e2eDir, "images", "astronaut-crop.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(images, "v-000.jpg"), photo, 0o644)
	rows["orphan"] = row(200)
	before := writeVectors(t, append(ids, "orphan"), rows, dims, model)
	catalogBefore := writeJSONFile(t, append(products, map[string]any{"productId": "no-vector", "imageName": "x.jpg"}))

	alias := estest.IndexName(t, "vecs")
	cfg := pipeline.Config{CatalogPath: catalogBefore, Catalog: catalog.Options{ImagesDir: images}, Vectors: []string{before}, Exact: true,
		ES: &esindex.Config{URLs: []string{estest.URL()}}, Alias: alias, MaxSkipped: -1, OutDir: t.TempDir()}
	rep, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatalf("full --vectors: %v", err)
	}
	if rep.Model != model || rep.Dims != dims || rep.Indexed != 60 || rep.Embedded != 0 {
		t.Errorf("report model %q dims %d indexed %d embedded %d, want %s, %d, 60, 0", rep.Model, rep.Dims, rep.Indexed, rep.Embedded, model, dims)
	}
	if len(rep.Skipped) != 1 || rep.Skipped[0].ID != "no-vector" || rep.Skipped[0].Stage != "vectors" {
		t.Errorf("skipped %+v, want no-vector for want of a vector", rep.Skipped)
	}
	if v := rep.Vectors; v == nil || v.Unused != 1 || len(v.UnusedIDs) != 1 || v.UnusedIDs[0] != "orphan" || v.Used != 60 {
		t.Errorf("vectors report %+v, want 60 used and orphan unused", v)
	}
	if _, meta, err := esindex.ReadMeta(ctx, es, alias); err != nil || meta.Model != model || meta.Dims != dims {
		t.Errorf("index meta %+v (%v), want model %s and %d dims", meta, err, model, dims)
	}
	docs := readAll(t, es, alias)
	if docs["v-000"].Essync.ImageSHA256 == "" || docs["v-001"].Essync.ImageSHA256 != "" {
		t.Errorf("image_sha256 %q and %q, want the photo's hash and empty", docs["v-000"].Essync.ImageSHA256, docs["v-001"].Essync.ImageSHA256)
	}

	// v-001's vector changes, v-059 loses its vector, v-060 is new.
	rows["v-001"] = row(100)
	rows["v-060"] = row(60)
	after := writeVectors(t, append([]string{"v-060"}, ids[:59]...), rows, dims, model)
	catalogAfter := writeJSONFile(t, append(products, map[string]any{"productId": "v-060", "imageName": "v-060.jpg"}))
	cfg.CatalogPath, cfg.Vectors = catalogAfter, []string{after}
	inc, err := pipeline.Incremental(ctx, cfg)
	if err != nil {
		t.Fatalf("incremental --vectors: %v", err)
	}
	if c := inc.Changes; c.New != 1 || c.ImageChanged != 1 || c.Written == 0 {
		t.Errorf("changes %+v, want 1 new and 1 changed vector", c)
	}
	reference := estest.IndexName(t, "vecsref")
	ref := cfg
	ref.Alias = reference
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	want := comparable(t, es, reference)
	assertSameDocuments(t, comparable(t, es, alias), want)
	if _, ok := want["v-059"]; ok || len(want) != 60 {
		t.Errorf("reference holds %d documents (v-059 without a vector should be left out)", len(want))
	}
	again, err := pipeline.Incremental(ctx, cfg)
	if err != nil || again.Changes.Written != 0 {
		t.Errorf("second incremental wrote %+v (%v), want nothing", again.Changes, err)
	}

	cfg.Vectors = []string{writeVectors(t, ids, rows, dims, "another-model@2")}
	if _, err := pipeline.Incremental(ctx, cfg); !errorsIs(err, pipeline.ErrNeedsFull) {
		t.Errorf("vectors of another model: err %v, want ErrNeedsFull", err)
	}
}
