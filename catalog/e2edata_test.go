package catalog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The end-to-end catalog reads cleanly: 48 products, 8 groups of 6, every
// image present.
func TestE2ECatalog(t *testing.T) {
	dir := "../testdata/e2e"
	products, skipped, err := Read(filepath.Join(dir, "catalog.json"), Options{ImagesDir: filepath.Join(dir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 {
		t.Fatalf("the e2e catalog must have no bad rows: %v", skipped)
	}
	groups := map[string]int{}
	for _, p := range products {
		var g string
		if err := json.Unmarshal(p.Fields["group"], &g); err != nil || g == "" {
			t.Fatalf("%s has no group: %s", p.ID, p.Fields["group"])
		}
		groups[g]++
	}
	if len(products) < 40 || len(groups) != 8 {
		t.Fatalf("%d products in %d groups, want ≥ 40 in 8", len(products), len(groups))
	}
	for g, n := range groups {
		if n != 6 {
			t.Errorf("group %s has %d products, want 6", g, n)
		}
	}
}

// The bad catalog yields exactly the catalog-stage skips bad/expected.json
// lists; the image-stage cases and the good rows pass the catalog stage.
func TestE2EBadCatalog(t *testing.T) {
	dir := "../testdata/e2e/bad"
	var want struct {
		Kept         []string `json:"kept"`
		CatalogSkips []struct {
			Row, Line int
			ID, Kind  string
		} `json:"catalog_skips"`
		ImageSkips []struct {
			Row, Line int
			ID        string
		} `json:"image_skips"`
	}
	raw, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	products, skipped, err := Read(filepath.Join(dir, "catalog.jl"), Options{ImagesDir: filepath.Join(dir, "images")})
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for _, p := range products {
		gotIDs = append(gotIDs, p.ID)
	}
	wantIDs := append([]string(nil), want.Kept...)
	for _, s := range want.ImageSkips {
		wantIDs = append(wantIDs, s.ID) // they reach the image stage
	}
	if strings.Join(sorted(gotIDs), " ") != strings.Join(sorted(wantIDs), " ") {
		t.Errorf("catalog kept %v, want %v", gotIDs, wantIDs)
	}
	if len(skipped) != len(want.CatalogSkips) {
		t.Fatalf("got %d skips, want %d: %v", len(skipped), len(want.CatalogSkips), skipped)
	}
	for i, w := range want.CatalogSkips {
		s := skipped[i]
		if s.Row != w.Row || s.Line != w.Line || s.ID != w.ID || string(s.Kind) != w.Kind {
			t.Errorf("skip %d = %+v, want %+v", i, s, w)
		}
	}
}

func sorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}
