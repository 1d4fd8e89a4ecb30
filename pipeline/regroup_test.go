package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestRegroupingWritesListDocuments: schema 4 keeps group_size in the list
// document, so a member leaving an offer group rewrites the other members'
// list documents only (their product documents, and so their vectors, stay
// as they were); when the member holding the group's smallest id leaves,
// group_id moves and the product documents get a partial update of it. Each
// run ends as a full run of the same catalog would, and a second run writes
// nothing.
func TestRegroupingWritesListDocuments(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "regroup")
	cfg := e2eConfig(t, alias)
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	// The largest offer group (ties: the smallest group_id), its members
	// in id order: members[0] holds the group's id.
	docs := comparable(t, es, alias)
	byGroup := map[string][]string{}
	for id, d := range docs {
		gid := d["group_id"].(string)
		byGroup[gid] = append(byGroup[gid], id)
	}
	var members []string
	for _, gid := range slices.Sorted(func(yield func(string) bool) {
		for gid := range byGroup {
			if !yield(gid) {
				return
			}
		}
	}) {
		if len(byGroup[gid]) > len(members) {
			members = byGroup[gid]
		}
	}
	slices.Sort(members)
	if len(members) < 4 {
		t.Fatalf("largest offer group %v: want 4 or more members", members)
	}

	tests := []struct {
		name    string
		leaving string
		// moved says whether some product's group_id must change: only
		// then is a product document written besides the delete.
		moved bool
	}{
		{"a member leaves: the others' list documents only", members[len(members)-1], false},
		{"the group's id leaves: group_id moves", members[0], true},
	}
	gone := map[string]bool{}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := comparable(t, es, alias)
			gone[tc.leaving] = true
			var stay []string
			for id := range before {
				if !gone[id] {
					stay = append(stay, id)
				}
			}
			seqBefore := seqNos(t, es, alias, stay)
			cfg.CatalogPath = catalogWithout(t, gone)
			rep, err := pipeline.Incremental(ctx, cfg)
			if err != nil {
				t.Fatalf("incremental: %v", err)
			}
			after := comparable(t, es, alias)
			seqAfter := seqNos(t, es, alias, stay)
			var moved, resized []string // new group_id; same group_id, new group_size
			for _, id := range stay {
				b, a := before[id], after[id]
				switch {
				case a["group_id"] != b["group_id"]:
					moved = append(moved, id)
				case a["list.group_size"] != b["list.group_size"]:
					resized = append(resized, id)
				}
				if rewritten, want := seqAfter[id] != seqBefore[id], slices.Contains(moved, id); rewritten != want {
					t.Errorf("%s: product document rewritten %v (seq_no %d → %d), want %v: only a new group_id writes it (group_id %v → %v)",
						id, rewritten, seqBefore[id], seqAfter[id], want, b["group_id"], a["group_id"])
				}
			}
			if (len(moved) > 0) != tc.moved || len(resized) == 0 && !tc.moved {
				t.Fatalf("group_id moved for %v, group_size alone changed for %v: not the case this test is about", moved, resized)
			}
			c := rep.Changes
			if c.Deleted != 1 || c.New != 0 || c.GroupsChanged != len(moved) || c.WrittenProducts != 1+len(moved) {
				t.Errorf("changes %+v: want 1 deleted and %d product documents written (the delete, and %d new group_id)", c, 1+len(moved), len(moved))
			}
			if c.WrittenLists != c.ListsChanged+1 || c.ListsChanged < len(moved)+len(resized) {
				t.Errorf("changes %+v: want the list documents of the %d regrouped products (and any changed list) rewritten, and the deleted one", c, len(moved)+len(resized))
			}
			assertGroupFields(t, after)
			ref := e2eConfig(t, estest.IndexName(t, "regroupref"))
			ref.CatalogPath = cfg.CatalogPath
			if _, err := pipeline.Full(ctx, ref); err != nil {
				t.Fatal(err)
			}
			assertSameDocuments(t, after, comparable(t, es, ref.Alias))
			again, err := pipeline.Incremental(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if again.Changes.Written != 0 {
				t.Errorf("second run wrote %d documents (%+v), want 0", again.Changes.Written, again.Changes)
			}
			t.Logf("%s left: %d product documents written (%d new group_id), %d list documents (%d regrouped by size alone)",
				tc.leaving, c.WrittenProducts, len(moved), c.WrittenLists, len(resized))
		})
	}
}

// catalogWithout writes the e2e catalog without the products in gone.
func catalogWithout(t *testing.T, gone map[string]bool) string {
	t.Helper()
	rows := slices.DeleteFunc(e2eRows(t), func(r map[string]any) bool { return gone[r["productId"].(string)] })
	p := filepath.Join(t.TempDir(), "catalog.json")
	b, _ := json.Marshal(rows)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// seqNos returns each product document's _seq_no: it moves whenever the
// document is written, a partial update included.
func seqNos(t *testing.T, es *elasticsearch.Client, alias string, ids []string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, id := range ids {
		res, err := es.Get(alias, id, es.Get.WithSourceExcludes("*"))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			SeqNo int64 `json:"_seq_no"`
		}
		err = json.NewDecoder(res.Body).Decode(&doc)
		res.Body.Close()
		if err != nil || res.IsError() {
			t.Fatalf("get %s: %v %s", id, err, res.Status())
		}
		out[id] = doc.SeqNo
	}
	return out
}
