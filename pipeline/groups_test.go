package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

var groupsDir = filepath.Join("..", "testdata", "groups")

// regionCatalogs writes two catalogs from the labelled set's items cut from
// one photo (deep-field quarters, coin halves), whose vectors are closer
// than the link threshold, plus the cat's shop copies: before lacks the
// right coin half, after has every product.
func regionCatalogs(t *testing.T) (before, after string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(groupsDir, "catalog.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	var a, b []map[string]any
	for _, r := range rows {
		switch g := r["group"].(string); g {
		case "deepfield-a", "deepfield-b", "coins-a", "cat":
			a = append(a, r)
			b = append(b, r)
		case "coins-b":
			b = append(b, r)
		}
	}
	dir := t.TempDir()
	write := func(name string, rows []map[string]any) string {
		p := filepath.Join(dir, name)
		data, _ := json.Marshal(rows)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("before.json", a), write("after.json", b)
}

// TestLayoutVerifierKeepsRegionsApartInFullAndIncremental runs full, then
// incremental, then a reference full on the same final catalog: the layout
// verifier runs on both paths, turns down the links between regions of one
// photo, and both give the same groups, none mixing two items.
func TestLayoutVerifierKeepsRegionsApartInFullAndIncremental(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	before, after := regionCatalogs(t)
	caches := map[string]string{} // alias -> its vector cache, shared by its runs
	config := func(alias, catalogPath string) pipeline.Config {
		cfg := e2eConfig(t, alias)
		cfg.CatalogPath = catalogPath
		cfg.Catalog = catalog.Options{ImagesDir: filepath.Join(groupsDir, "images")}
		if caches[alias] == "" {
			caches[alias] = filepath.Join(t.TempDir(), "vectors.bolt")
		}
		cfg.Embed.CachePath = caches[alias]
		return cfg
	}
	live := estest.IndexName(t, "verify-incr")
	if _, err := pipeline.Full(ctx, config(live, before)); err != nil {
		t.Fatal(err)
	}
	rep, err := pipeline.Incremental(ctx, config(live, after))
	if err != nil {
		t.Fatalf("incremental: %v", err)
	}
	reference := estest.IndexName(t, "verify-ref")
	refRep, err := pipeline.Full(ctx, config(reference, after))
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*pipeline.Report{"incremental": rep, "full": refRep} {
		g := r.Groups
		if g == nil || g.Verifier != "layout" || g.Layouts == nil {
			t.Fatalf("%s: groups report %+v, want the layout verifier", name, g)
		}
		// The embedder kept every layout as it decoded the image (full) or
		// in an earlier run (incremental): grouping decodes nothing.
		if g.Rejected == 0 || g.Layouts.Failed != 0 || g.Layouts.Computed != 0 || g.Layouts.Cached != g.Layouts.Products {
			t.Errorf("%s: verifier turned down %d of %d candidates, layouts %+v; want the region links turned down, every layout from the cache",
				name, g.Rejected, g.Candidates, *g.Layouts)
		}
	}
	got, want := comparable(t, es, live), comparable(t, es, reference)
	assertSameDocuments(t, got, want)    // group_id, list.group_id and list.group_size included
	items := map[string]map[string]int{} // offer group -> true item -> members
	for _, doc := range want {
		gid := doc["group_id"].(string)
		if items[gid] == nil {
			items[gid] = map[string]int{}
		}
		items[gid][doc["group"].(string)]++
	}
	grouped := map[string]bool{}
	for gid, in := range items {
		if len(in) > 1 {
			t.Errorf("offer group %s mixes the items %v", gid, in)
		}
		for item, n := range in {
			if n > 1 {
				grouped[item] = true
			}
		}
	}
	if len(grouped) != 5 {
		t.Errorf("items with an offer group of two or more: %v, want all 5 (the verifier must confirm shop copies)", grouped)
	}
}
