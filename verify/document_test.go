package verify

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
)

// unit3 is a 3-d unit vector.
var unit3 = []float32{0.6, 0.8, 0}

// doc renders a document; change edits the fields before encoding.
func doc(id string, change func(m map[string]any)) []byte {
	m := map[string]any{
		"product_id": id, "image_name": id + ".jpg", "image_vector": unit3,
		"similar_pi": []string{"b", "c"},
		"similar":    []map[string]any{{"pi": "b", "similarity": 0.9}, {"pi": "c", "similarity": 0.5}},
		"essync":     map[string]any{"model": "m@1", "image_sha256": "ab", "synced_at": "2026-12-01T00:00:00Z"},
		"title":      "a catalog field",
	}
	if change != nil {
		change(m)
	}
	b, _ := json.Marshal(m)
	return b
}

// kindsAndIDs renders findings as "kind:id,id" for comparison.
func kindsAndIDs(fs []Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.Kind) + ":" + strings.Join(f.IDs, ",")
	}
	slices.Sort(out)
	return out
}

func TestInspect(t *testing.T) {
	exp := expect{Dims: 3, Model: "m@1", NormTolerance: DefaultNormTolerance}
	setList := func(pis []string, scores []float64) func(map[string]any) {
		return func(m map[string]any) {
			sim := make([]map[string]any, len(pis))
			for i := range pis {
				sim[i] = map[string]any{"pi": pis[i], "similarity": scores[i]}
			}
			m["similar_pi"], m["similar"] = pis, sim
		}
	}
	for _, tc := range []struct {
		name   string
		change func(map[string]any)
		want   []string
	}{
		{"clean", nil, nil},
		{"schema 1: bookkeeping at the top level", func(m map[string]any) {
			delete(m, "essync")
			m["model"], m["image_sha256"] = "m@1", "ab"
		}, nil},
		{"schema 2 wins over a catalog field called model", func(m map[string]any) { m["model"] = 42 }, nil},
		{"other model", func(m map[string]any) { m["essync"].(map[string]any)["model"] = "old@2" }, []string{"model:a"}},
		{"no bookkeeping at all", func(m map[string]any) { delete(m, "essync") }, []string{"model:a"}},
		{"product_id differs", func(m map[string]any) { m["product_id"] = "x" }, []string{"product-id:a"}},
		{"no vector", func(m map[string]any) { delete(m, "image_vector") }, []string{"vector-missing:a"}},
		{"vector not numbers", func(m map[string]any) { m["image_vector"] = "x" }, []string{"vector-missing:a"}},
		{"wrong dims", func(m map[string]any) { m["image_vector"] = []float32{1, 0} }, []string{"vector-dims:a"}},
		{"not unit", func(m map[string]any) { m["image_vector"] = []float32{1, 1, 0} }, []string{"vector-norm:a"}},
		{"names itself", setList([]string{"b", "a"}, []float64{0.9, 0.5}), []string{"list-self:a"}},
		{"names b twice", setList([]string{"b", "b"}, []float64{0.9, 0.9}), []string{"list-duplicate:a,b"}},
		{"unsorted", setList([]string{"b", "c"}, []float64{0.5, 0.9}), []string{"list-unsorted:a,b,c"}},
		{"score above 1", setList([]string{"b", "c"}, []float64{1.5, 0.9}), []string{"list-score-range:a,b"}},
		{"score below -1", setList([]string{"b", "c"}, []float64{0.5, -1.01}), []string{"list-score-range:a,c"}},
		{"similar_pi disagrees", func(m map[string]any) { m["similar_pi"] = []string{"b", "d"} }, []string{"lists-disagree:a"}},
		{"similar_pi shorter", func(m map[string]any) { m["similar_pi"] = []string{"b"} }, []string{"lists-disagree:a"}},
		{"no similar, only similar_pi", func(m map[string]any) { delete(m, "similar") }, []string{"lists-disagree:a"}},
		{"group pair complete", func(m map[string]any) { m["group_id"], m["group_size"] = "g", 2 }, nil},
		{"group_id alone (schema 4: the size is in the list document)", func(m map[string]any) { m["group_id"] = "g" }, nil},
		{"group_size without group_id", func(m map[string]any) { m["group_size"] = 2 }, []string{"group:a"}},
		{"group_size not an integer", func(m map[string]any) { m["group_id"], m["group_size"] = "g", 1.5 }, []string{"document-unreadable:a"}},
		{"similar_pi not strings", func(m map[string]any) { m["similar_pi"] = []int{1} }, []string{"document-unreadable:a", "lists-disagree:a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := inspect("a", doc("a", tc.change), exp)
			if got := kindsAndIDs(d.Findings); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
		})
	}
}

// A list document (schema 4) carries the offer group as a pair: group_id
// and group_size, both or neither.
func TestInspectList(t *testing.T) {
	list := func(change func(m map[string]any)) []byte {
		m := map[string]any{"product_id": "a", "similar_pi": []string{"b"}, "similar": []map[string]any{{"pi": "b", "similarity": 0.9}}}
		change(m)
		b, _ := json.Marshal(m)
		return b
	}
	for _, tc := range []struct {
		name   string
		change func(m map[string]any)
		want   []string
		group  string
		size   int
	}{
		{"no group (schema 3)", func(map[string]any) {}, nil, "", -1},
		{"group pair", func(m map[string]any) { m["group_id"], m["group_size"] = "g", 3 }, nil, "g", 3},
		{"group_size missing", func(m map[string]any) { m["group_id"] = "g" }, []string{"group:a"}, "g", -1},
		{"group_id missing", func(m map[string]any) { m["group_size"] = 3 }, []string{"group:a"}, "", 3},
		{"group_size not an integer", func(m map[string]any) { m["group_id"], m["group_size"] = "g", "3" }, []string{"document-unreadable:a"}, "g", -1},
		{"product_id differs", func(m map[string]any) { m["product_id"] = "x" }, []string{"product-id:a"}, "", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := inspectList("a", list(tc.change))
			if got := kindsAndIDs(d.Findings); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
			}
			if d.GroupID != tc.group || d.GroupSize != tc.size || len(d.List) != 1 {
				t.Errorf("group %q/%d, list %v; want %q/%d and one entry", d.GroupID, d.GroupSize, d.List, tc.group, tc.size)
			}
		})
	}
}

func TestInspectKeepsWhatTheAuditNeeds(t *testing.T) {
	d := inspect("a", doc("a", func(m map[string]any) { m["group_id"], m["group_size"] = "g", 3 }), expect{Dims: 3, NormTolerance: DefaultNormTolerance})
	if d.ImageName != "a.jpg" || d.SHA256 != "ab" || !slices.Equal(d.Vector, unit3) || d.GroupID != "g" || d.GroupSize != 3 || !d.HasGroup {
		t.Errorf("state %+v", d)
	}
	if len(d.List) != 2 || d.List[0] != (entry{"b", 0.9}) || d.List[1] != (entry{"c", 0.5}) {
		t.Errorf("list %+v", d.List)
	}
	if d := inspect("a", doc("a", func(m map[string]any) { delete(m, "similar") }), expect{}); !math.IsNaN(d.List[0].Similarity) {
		t.Errorf("similar_pi only: similarity %v, want NaN", d.List[0].Similarity)
	}
	if d := inspect("a", []byte(`[1]`), expect{}); len(d.Findings) != 1 || d.Findings[0].Kind != KindDocumentUnreadable {
		t.Errorf("not an object: %v", d.Findings)
	}
}
