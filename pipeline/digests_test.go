package pipeline_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/pipeline"
	"github.com/essync/essync/vectors"
)

// writeVectorShard writes a vectors folder through vectors.Writer (so it
// carries digests.bin, as essync embed writes it) of rows[id] for ids.
func writeVectorShard(t *testing.T, dir string, ids []string, rows map[string][]float32, dims int, model string) {
	t.Helper()
	w, err := vectors.Create(dir, len(ids), dims)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if err := w.Add(rows[id]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := vectors.WriteJSON(dir, vectors.IDsFile, ids); err != nil {
		t.Fatal(err)
	}
	if err := vectors.WriteJSON(dir, vectors.MetaFile, vectors.Meta{Model: model, Dims: dims}); err != nil {
		t.Fatal(err)
	}
}

// TestIncrementalPlansByRowDigests runs incremental on two shard folders
// with a state snapshot: the planning compares the folders' digests.bin
// with the snapshot's. A no-op run computes no digest and writes nothing; a
// vector rewritten in place (same file size, new mtime) makes the sidecar
// untrusted, its digests are computed from the file, and the changed row is
// planned as a changed vector; the index then equals a full run's, and the
// run after writes nothing.
func TestIncrementalPlansByRowDigests(t *testing.T) {
	es := estest.Client(t)
	const dims, model = 24, "digest-model@1"
	gen := benchdata.NewVectors(dims, 5, 11)
	rows := map[string][]float32{}
	var ids []string
	var products []map[string]any
	for i := range 50 {
		id := fmt.Sprintf("d-%03d", i)
		ids = append(ids, id)
		rows[id] = make([]float32, dims)
		gen.Row(i, rows[id])
		products = append(products, map[string]any{"productId": id, "imageName": id + ".jpg", "price": i})
	}
	root := t.TempDir()
	a, b := filepath.Join(root, "a"), filepath.Join(root, "b")
	writeVectorShard(t, a, ids[:30], rows, dims, model)
	writeVectorShard(t, b, ids[30:], rows, dims, model)
	alias := estest.IndexName(t, "digests")
	cfg := pipeline.Config{CatalogPath: writeJSONFile(t, products), Catalog: catalog.Options{ImagesDir: t.TempDir()}, Vectors: []string{a, b}, Exact: true,
		ES: &esindex.Config{URLs: []string{estest.URL()}}, Alias: alias, MaxSkipped: -1, OutDir: t.TempDir(), StateDir: t.TempDir()}
	if _, err := pipeline.Full(t.Context(), cfg); err != nil {
		t.Fatal(err)
	}
	rep := incremental(t, cfg)
	if rep.Changes.Written != 0 || len(rep.Vectors.DigestsComputed) != 0 || !rep.Snapshot.Unchanged {
		t.Errorf("no-op run: written %d, digests computed for %v, snapshot %+v; want nothing written or computed", rep.Changes.Written, rep.Vectors.DigestsComputed, rep.Snapshot)
	}

	// Row 3 of shard b (d-033) gets another vector of the same length,
	// written in place; the file's mtime moves on.
	path := filepath.Join(b, vectors.MatrixFile)
	data, n, d, err := npy.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	gen.Row(300, data[3*d:4*d])
	rows["d-033"] = data[3*d : 4*d]
	fi, _ := os.Stat(path)
	if err := npy.WriteFile(path, n, d, data); err != nil {
		t.Fatal(err)
	}
	later := fi.ModTime().Add(2 * time.Second)
	if err := os.Chtimes(path, later, later); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.Stat(path); after.Size() != fi.Size() {
		t.Fatalf("the edit changed the file's size %d → %d", fi.Size(), after.Size())
	}
	rep = incremental(t, cfg)
	if c := rep.Changes; c.ImageChanged != 1 || c.New != 0 || c.Deleted != 0 || c.Written == 0 {
		t.Errorf("changes %+v, want one changed vector", c)
	}
	if got := rep.Vectors.DigestsComputed; len(got) != 1 || got[0] != b {
		t.Errorf("digests computed for %v, want [%s] (its digests.bin no longer matches vectors.npy)", got, b)
	}
	reference := estest.IndexName(t, "digestsref")
	ref := cfg
	ref.Alias, ref.StateDir = reference, t.TempDir()
	if _, err := pipeline.Full(t.Context(), ref); err != nil {
		t.Fatal(err)
	}
	assertSameDocuments(t, comparable(t, es, alias), comparable(t, es, reference))
	rep = incremental(t, cfg)
	if rep.Changes.Written != 0 || len(rep.Vectors.DigestsComputed) != 0 || !rep.Snapshot.Unchanged {
		t.Errorf("the run after: written %d, digests computed for %v, snapshot %+v; want nothing (the digests were kept in digests.bin)",
			rep.Changes.Written, rep.Vectors.DigestsComputed, rep.Snapshot)
	}
}
