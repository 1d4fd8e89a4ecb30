package verify_test

import (
	"context"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/verify"
)

// damage is one way an index can go wrong, and what verify must say about it.
type damage struct {
	name    string
	docs    func(docs map[string]document)                 // edit the documents (nil: as published)
	mapping func(m map[string]any)                         // edit the mapping before the copy is created
	meta    func(*esindex.Meta)                            // changes _meta.essync after loading
	lease   time.Duration                                  // plant a lease expiring this far from now (0: none)
	opts    func(t *testing.T, o *verify.Options, b *base) // change the options
	want    func(docs map[string]document) []string        // "kind:id,id…" of every expected finding
}

func none(map[string]document) []string { return nil }

func TestVerifyFindsEveryDamage(t *testing.T) {
	b := newBase(t)
	ctx := context.Background()
	catalogPath := filepath.Join(e2eDir, "catalog.json")
	leases := estest.IndexName(t, "leases")

	ids := slices.Sorted(func(yield func(string) bool) {
		for id := range b.docs {
			if !yield(id) {
				return
			}
		}
	})
	// The victim's first two neighbours have different scores, so swapping
	// them breaks the order.
	victim := ""
	for _, id := range ids {
		sim, _ := list(b.docs[id])
		if num(sim[0].(map[string]any)["similarity"]) > num(sim[1].(map[string]any)["similarity"]) {
			victim = id
			break
		}
	}
	entry := func(d document, i int) map[string]any { sim, _ := list(d); return sim[i].(map[string]any) }
	pi := func(i int) string { return entry(b.docs[victim], i)["pi"].(string) }
	plainFloatVectors := func(m map[string]any) {
		// Elasticsearch refuses a dense_vector of the wrong length or, with
		// dot_product, not of unit length; a copy of the index whose vector
		// field is plain floats lets the test store such documents.
		m["properties"].(map[string]any)["image_vector"] = map[string]any{"type": "float", "index": false}
	}
	listers := func(docs map[string]document, target string) []string {
		var out []string
		for _, id := range ids {
			if d, ok := docs[id]; ok {
				_, pis := list(d)
				if slices.Contains(pis, any(target)) {
					out = append(out, "list-dangling:"+id+","+target)
				}
			}
		}
		return out
	}
	groups := func(docs map[string]document) {
		for _, d := range docs {
			d["group_id"], d["group_size"] = "g-"+d["group"].(string), 6
		}
	}
	members := func(docs map[string]document, group any) string {
		var out []string
		for _, id := range ids {
			if docs[id]["group"] == group {
				out = append(out, id)
			}
		}
		return joinIDs(out)
	}

	cases := []damage{
		{name: "fresh", opts: func(_ *testing.T, o *verify.Options, _ *base) { o.Hash = true }, want: none},
		{name: "schema 2 bookkeeping", docs: func(docs map[string]document) {
			for _, d := range docs {
				toSchema(d, true)
			}
		}, opts: func(_ *testing.T, o *verify.Options, _ *base) { o.Hash = true }, want: none},
		{name: "schema 1 bookkeeping", docs: func(docs map[string]document) {
			for _, d := range docs {
				toSchema(d, false)
			}
		}, opts: func(_ *testing.T, o *verify.Options, _ *base) { o.Hash = true }, want: none},
		{name: "deleted document", docs: func(docs map[string]document) { delete(docs, victim) },
			want: func(docs map[string]document) []string {
				return append(listers(docs, victim), "missing-from-index:"+victim, "document-count:")
			}},
		{name: "document not in catalog", docs: func(docs map[string]document) {
			d := maps.Clone(docs[victim])
			d["product_id"] = "stray"
			if _, ok := d["group_id"]; ok { // a stray product is an offer group of its own
				d["group_id"], d["group_size"] = "g-stray", 1
			}
			docs["stray"] = d
		}, want: func(map[string]document) []string { return []string{"not-in-catalog:stray", "document-count:"} }},
		{name: "list names a missing product", docs: func(docs map[string]document) {
			sim, pis := list(docs[victim])
			sim[4].(map[string]any)["pi"], pis[4] = "ghost", "ghost"
		}, want: func(map[string]document) []string { return []string{"list-dangling:" + victim + ",ghost"} }},
		{name: "two entries swapped", docs: func(docs map[string]document) {
			sim, pis := list(docs[victim])
			sim[0], sim[1] = sim[1], sim[0]
			pis[0], pis[1] = pis[1], pis[0]
		}, want: func(map[string]document) []string {
			return []string{"list-unsorted:" + victim + "," + pi(1) + "," + pi(0)}
		}},
		{name: "list names the product itself", docs: func(docs map[string]document) {
			sim, pis := list(docs[victim])
			sim[3].(map[string]any)["pi"], pis[3] = victim, victim
		}, want: func(map[string]document) []string { return []string{"list-self:" + victim} }},
		{name: "list names a product twice", docs: func(docs map[string]document) {
			sim, pis := list(docs[victim])
			sim[3], pis[3] = sim[2], pis[2]
		}, want: func(map[string]document) []string { return []string{"list-duplicate:" + victim + "," + pi(2)} }},
		{name: "score out of range", docs: func(docs map[string]document) {
			entry(docs[victim], 0)["similarity"] = 1.5
		}, want: func(map[string]document) []string {
			// The sample covers every product, so the stored score is also
			// found not to be the vectors' cosine.
			return []string{"list-score-range:" + victim + "," + pi(0), "list-score-wrong:" + victim + "," + pi(0)}
		}},
		{name: "similar and similar_pi disagree", docs: func(docs map[string]document) {
			_, pis := list(docs[victim])
			pis[5] = pis[6]
		}, want: func(map[string]document) []string { return []string{"lists-disagree:" + victim} }},
		{name: "list document missing", docs: func(docs map[string]document) {
			for _, k := range []string{"similar", "similar_pi", "group_size"} {
				delete(docs[victim], k)
			}
		}, want: func(map[string]document) []string { return []string{"list-missing:" + victim} }},
		{name: "orphan list document", docs: func(docs map[string]document) {
			docs["ghost"] = document{listOnly: true, "similar": docs[victim]["similar"], "similar_pi": docs[victim]["similar_pi"]}
		}, want: func(map[string]document) []string { return []string{"list-orphan:ghost"} }},
		{name: "similar alias gone", opts: func(t *testing.T, o *verify.Options, b *base) {
			simAlias := mappings.SimilarAlias(o.Alias)
			live, err := esindex.AliasIndices(ctx, b.es, simAlias)
			if err != nil || len(live) != 1 {
				t.Fatalf("alias %s: %v %v", simAlias, live, err)
			}
			if res, err := b.es.Indices.DeleteAlias(live, []string{simAlias}); err != nil || res.IsError() {
				t.Fatalf("delete alias %s: %v %v", simAlias, err, res)
			}
			o.Sample = 0 // no lists: the recall check has nothing to say
		}, want: func(map[string]document) []string {
			out := []string{"similar-index:"}
			for _, id := range ids {
				out = append(out, "list-missing:"+id)
			}
			return out
		}},
		{name: "short list", docs: func(docs map[string]document) {
			sim, pis := list(docs[victim])
			docs[victim]["similar"], docs[victim]["similar_pi"] = sim[:10], pis[:10]
		}, want: func(map[string]document) []string { return []string{"list-short:" + victim} }},
		{name: "index records k", meta: func(m *esindex.Meta) { m.K = 10 }, want: func(map[string]document) []string {
			var out []string
			for _, id := range ids {
				out = append(out, "list-long:"+id)
			}
			return out
		}},
		{name: "no vector", docs: func(docs map[string]document) { delete(docs[victim], "image_vector") },
			want: func(map[string]document) []string { return []string{"vector-missing:" + victim} }},
		{name: "wrong dims", mapping: plainFloatVectors, docs: func(docs map[string]document) {
			docs[victim]["image_vector"] = docs[victim]["image_vector"].([]any)[:8]
		}, want: func(map[string]document) []string { return []string{"vector-dims:" + victim} }},
		{name: "not unit length", mapping: plainFloatVectors, docs: func(docs map[string]document) {
			v := docs[victim]["image_vector"].([]any)
			for i := range v {
				v[i] = 2 * num(v[i])
			}
		}, want: func(map[string]document) []string { return []string{"vector-norm:" + victim} }},
		{name: "other model", docs: func(docs map[string]document) { setBookkeeping(docs[victim], "model", "other@123456789abc") },
			want: func(map[string]document) []string { return []string{"model:" + victim} }},
		{name: "changed image", opts: func(t *testing.T, o *verify.Options, b *base) {
			o.Hash = true
			o.Catalog.ImagesDir = copyDir(t, b.images)
			name := b.docs[victim]["image_name"].(string)
			f, err := os.OpenFile(filepath.Join(o.Catalog.ImagesDir, name), os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte("changed"))
			f.Close()
		}, want: func(map[string]document) []string { return []string{"image-changed:" + victim} }},
		{name: "incremental pending", meta: func(m *esindex.Meta) { m.Pending = true },
			want: func(map[string]document) []string { return []string{"incremental-pending:"} }},
		{name: "not complete", meta: func(m *esindex.Meta) { m.Complete = false },
			want: func(map[string]document) []string { return []string{"index-incomplete:"} }},
		{name: "lease held", lease: time.Hour, want: func(map[string]document) []string { return []string{"lease-held:"} }},
		{name: "lease stale", lease: -time.Hour, want: func(map[string]document) []string { return []string{"lease-stale:"} }},
		{name: "consistent groups", docs: groups, want: none},
		{name: "group members disagree", docs: func(docs map[string]document) {
			groups(docs)
			docs[victim]["group_size"] = 5
		}, want: func(docs map[string]document) []string {
			return []string{"group:" + members(docs, docs[victim]["group"])}
		}},
		{name: "group size in the product documents (schema 3)", docs: func(docs map[string]document) {
			groups(docs)
			for _, d := range docs {
				d[groupsInProduct] = true
			}
		}, want: none},
		{name: "list document's group_id is not its product's", docs: func(docs map[string]document) {
			groups(docs)
			docs[victim][listGroupID] = "g-elsewhere"
		}, want: func(map[string]document) []string { return []string{"list-group:" + victim} }},
		{name: "poor lists", docs: func(docs map[string]document) {
			for _, id := range ids[:8] {
				worst := leastSimilar(docs, id, 20)
				docs[id]["similar"], docs[id]["similar_pi"] = worst, piOf(worst)
			}
		}, opts: func(_ *testing.T, o *verify.Options, _ *base) { o.MinRecall = 0.9 },
			want: func(map[string]document) []string { return []string{"recall:" + joinIDs(ids[:8])} }},
		{name: "not an alias", opts: func(t *testing.T, o *verify.Options, b *base) { o.Alias = b.live }, want: func(map[string]document) []string {
			return []string{"not-an-alias:"}
		}},
		{name: "no alias", opts: func(t *testing.T, o *verify.Options, b *base) { o.Alias = b.alias + "-nothing" }, want: func(map[string]document) []string {
			return []string{"alias-missing:"}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs, mapping := b.clone(t)
			alias := estest.IndexName(t, "v")
			if tc.docs != nil {
				tc.docs(docs)
			}
			if tc.mapping != nil {
				tc.mapping(mapping)
			}
			index := b.publish(t, alias, docs, mapping)
			if tc.meta != nil {
				if err := esindex.SetMeta(ctx, b.es, index, tc.meta); err != nil {
					t.Fatal(err)
				}
			}
			if tc.lease != 0 {
				now := time.Now().UTC()
				putDoc(t, b.es, leases, alias, map[string]any{
					"alias": alias, "run_id": "r-1", "host": "builder", "pid": 4242, "command": "incremental",
					"started_at": now.Add(-2 * time.Hour).Format(time.RFC3339), "renewed_at": now.Add(tc.lease - time.Minute).Format(time.RFC3339),
					"expires_at": now.Add(tc.lease).Format(time.RFC3339),
				})
			}
			opts := verify.Options{
				Alias: alias, CatalogPath: catalogPath, Catalog: catalog.Options{ImagesDir: b.images},
				Sample: 1000, Seed: 1, MinRecall: 0.5, LeaseIndex: leases,
			}
			if tc.opts != nil {
				tc.opts(t, &opts, b)
			}
			rep, err := verify.Run(ctx, b.es, opts)
			if err != nil {
				t.Fatalf("verify: %v", err)
			}
			want := tc.want(docs)
			sort.Strings(want)
			if got := findingKeys(rep.Findings); !slices.Equal(got, want) {
				t.Errorf("findings\n  %v\nwant\n  %v", got, want)
				for _, f := range rep.Findings {
					t.Logf("  %s %v: %s", f.Kind, f.IDs, f.Detail)
				}
			}
			if rep.Clean() != (len(want) == 0) {
				t.Errorf("Clean() = %v with %d findings", rep.Clean(), len(rep.Findings))
			}
		})
	}
}

// leastSimilar returns the n products least similar to id, as a sorted
// "similar" list with their true (truncated) scores.
func leastSimilar(docs map[string]document, id string, n int) []any {
	vec := func(d document) []float64 {
		var v []float64
		for _, x := range d["image_vector"].([]any) {
			v = append(v, num(x))
		}
		return v
	}
	a := vec(docs[id])
	type cand struct {
		id string
		s  float64
	}
	var cs []cand
	for other, d := range docs {
		if other == id {
			continue
		}
		var s float64
		for i, x := range vec(d) {
			s += a[i] * x
		}
		cs = append(cs, cand{other, math.Trunc(s*10000) / 10000})
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].s > cs[j].s || (cs[i].s == cs[j].s && cs[i].id < cs[j].id) })
	var out []any
	for _, c := range cs[len(cs)-n:] {
		out = append(out, map[string]any{"pi": c.id, "similarity": json.Number(formatScore(c.s))})
	}
	return out
}

func formatScore(s float64) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func piOf(sim []any) []any {
	out := make([]any, len(sim))
	for i, e := range sim {
		out[i] = e.(map[string]any)["pi"]
	}
	return out
}

func joinIDs(ids []string) string {
	s := ""
	for i, id := range ids {
		if i > 0 {
			s += ","
		}
		s += id
	}
	return s
}
