package mappings

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestRenderSimilar(t *testing.T) {
	out, err := RenderSimilar(Options{Dims: 1280, Model: "m@1", K: 20, Shards: 2, Replicas: 1}, "shop-20261128-100000.000")
	if err != nil {
		t.Fatal(err)
	}
	var b body
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	want := Meta{SchemaVersion: SchemaVersion, Role: RoleSimilar, Products: "shop-20261128-100000.000", Model: "m@1", K: 20, Generation: 1}
	if b.Mappings.Meta.Essync != want {
		t.Errorf("_meta.essync = %+v, want %+v", b.Mappings.Meta.Essync, want)
	}
	if s := b.Settings.Index; s.Shards != 2 || s.Replicas != 1 {
		t.Errorf("settings = %+v, want the product index's shards and replicas", s)
	}
	if string(b.Mappings.Dynamic) != `"strict"` {
		t.Errorf("dynamic = %s, want strict", b.Mappings.Dynamic)
	}
	p := b.Mappings.Properties
	if len(p) != 5 || p["product_id"].Type != "keyword" || p["similar_pi"].Type != "keyword" ||
		p["similar"].Type != "object" || p["similar"].Enabled == nil || *p["similar"].Enabled ||
		p["group_id"].Type != "keyword" || p["group_size"].Type != "integer" {
		t.Errorf("properties = %+v, want product_id, similar_pi and group_id keywords, group_size integer and similar stored but not indexed, nothing else", p)
	}
	if _, err := RenderSimilar(Options{Dims: 0, Model: "m"}, "x"); err == nil {
		t.Error("RenderSimilar accepted options Render refuses")
	}
}

func TestCheckAlias(t *testing.T) {
	tests := []struct {
		alias string
		err   string
	}{
		{"products", ""},
		{"similar", ""},
		{"products-similar-items", ""},
		{"products-similar", `ends in "-similar", which essync keeps for the similar-products index of alias "products"`},
	}
	for _, tc := range tests {
		t.Run(tc.alias, func(t *testing.T) {
			err := CheckAlias(tc.alias)
			if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("CheckAlias(%q) = %v, want %q", tc.alias, err, tc.err)
			}
		})
	}
	if got := SimilarAlias("products"); got != "products-similar" {
		t.Errorf("SimilarAlias = %q", got)
	}
}
