package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex/estest"
)

// TestSearchByPhotoFindsTheGroupsPhoto indexes only each near-duplicate
// group's original photo and queries with the other five (crop, half size,
// JPEG q30, mirror, recolour): the group's photo must come first for every
// query that an exact top-1 over the same vectors gets right, so the test
// measures the service (embedding path, kNN, queue), not the model.
func TestSearchByPhotoFindsTheGroupsPhoto(t *testing.T) {
	emb, es, _ := e2eIndex(t)
	alias := estest.IndexName(t, "quality")
	rows := readE2ECatalog(t)
	raw, _ := os.ReadFile(filepath.Join(e2eDir, "catalog.json"))
	var all []json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	var origs []json.RawMessage
	origOf := map[string]string{} // group → its indexed product
	var origInputs []embed.Input
	for i, r := range rows {
		if r.Variant == "orig" {
			origs = append(origs, all[i])
			origOf[r.Group] = r.ProductID
			origInputs = append(origInputs, embed.Input{ID: r.ProductID, Path: filepath.Join(e2eDir, "images", r.ImageName)})
		}
	}
	if len(origs) != 8 {
		t.Fatalf("%d original photos in the catalog, want 8", len(origs))
	}
	catalogPath := filepath.Join(t.TempDir(), "origs.json")
	b, _ := json.Marshal(origs)
	os.WriteFile(catalogPath, b, 0o644)
	if err := loadCatalog(catalogPath, alias); err != nil {
		t.Fatal(err)
	}
	indexed, err := emb.Embed(context.Background(), origInputs, nil)
	if err != nil {
		t.Fatal(err)
	}

	srv := newTestServer(t, Config{ES: es, Alias: alias, Embedder: emb})
	var right, asked int
	for _, r := range rows {
		if r.Variant == "orig" {
			continue
		}
		asked++
		data := e2eImage(t, r.ImageName)
		q, err := emb.EmbedBytes(r.ImageName, data)
		if err != nil {
			t.Fatal(err)
		}
		best, bestSim := "", float32(-2)
		for _, v := range indexed {
			if s := dot(q, v.Vector); s > bestSim {
				best, bestSim = v.ID, s
			}
		}
		if best != origOf[r.Group] {
			t.Logf("%s: the exact top-1 is %s, not its group's photo: not asked of the service", r.ProductID, best)
			continue
		}
		right++
		res, err := srv.SearchImage(context.Background(), r.ImageName, bytes.Clone(data), Query{K: 3})
		if err != nil {
			t.Fatalf("%s: %v", r.ProductID, err)
		}
		if len(res.Hits) == 0 || res.Hits[0].ID != origOf[r.Group] {
			t.Errorf("%s: first hit %v, want its group's photo %s", r.ProductID, res.Hits, origOf[r.Group])
		}
	}
	t.Logf("exact top-1 gets %d of %d queries right; the service was asked those", right, asked)
	if right == 0 {
		t.Fatal("no query is answered right even by an exact search: the test data or the model is broken")
	}
}

func dot(a, b []float32) float32 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}
