package verify

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/neighbors"
)

// corpus is n documents with random unit vectors of dims and exact top-k lists.
type corpus struct {
	ids   []string
	vecs  [][]float32
	lists map[string][]neighbors.Neighbor
}

func newCorpus(t *testing.T, n, dims, k int) *corpus {
	t.Helper()
	rng := rand.New(rand.NewPCG(3, 4))
	c := &corpus{lists: map[string][]neighbors.Neighbor{}}
	flat := benchdata.UnitRows(rng, n, dims)
	for i := range n {
		c.ids = append(c.ids, fmt.Sprintf("p%02d", i))
		c.vecs = append(c.vecs, flat[i*dims:(i+1)*dims])
	}
	g, err := neighbors.Build(c.ids, flat, dims, neighbors.Options{K: k, Exact: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range c.ids {
		c.lists[id] = g.Neighbors(id)
	}
	return c
}

// audit feeds the corpus (lists possibly edited) to an auditor.
func (c *corpus) audit(dims int, edit func(id string, l []neighbors.Neighbor) []neighbors.Neighbor) *auditor {
	a := newAuditor(dims, len(c.ids), false)
	for i, id := range c.ids {
		l := slices.Clone(c.lists[id])
		if edit != nil {
			l = edit(id, l)
		}
		pis := make([]string, len(l))
		sim := make([]map[string]any, len(l))
		for j, nb := range l {
			pis[j], sim[j] = nb.ID, map[string]any{"pi": nb.ID, "similarity": nb.Similarity}
		}
		b, _ := json.Marshal(map[string]any{"product_id": id, "image_name": id + ".jpg", "image_vector": c.vecs[i], "similar_pi": pis, "similar": sim})
		a.add(inspect(id, b, expect{Dims: dims, NormTolerance: DefaultNormTolerance}))
	}
	return a
}

func TestAuditorListsCatalogAndGroups(t *testing.T) {
	c := newCorpus(t, 12, 8, 5)
	a := c.audit(8, func(id string, l []neighbors.Neighbor) []neighbors.Neighbor {
		switch id {
		case "p01":
			l[4].ID = "ghost"
		case "p02":
			l = l[:3]
		}
		return l
	})
	a.checkLists(5)
	catalog := []CatalogProduct{{ID: "p00", ImageName: "p00.jpg"}, {ID: "p03", ImageName: "renamed.jpg"}, {ID: "new", ImageName: "new.jpg"}}
	for _, id := range c.ids[4:] {
		catalog = append(catalog, CatalogProduct{ID: id, ImageName: id + ".jpg"})
	}
	rows := a.checkCatalog(catalog)
	want := []string{
		"image-name:p03", "list-dangling:p01,ghost", "list-short:p02", "missing-from-index:new",
		"not-in-catalog:p01", "not-in-catalog:p02",
	}
	if got := kindsAndIDs(a.findings); !slices.Equal(got, want) {
		t.Errorf("findings\n %v\nwant\n %v", got, want)
	}
	if rows[0] != 0 || rows[1] != -1 || rows[3] != 1 {
		t.Errorf("catalog rows %v", rows)
	}
	if a.checkLists(4); !slices.Contains(kindsAndIDs(a.findings), "list-long:p00") {
		t.Errorf("lists of 5 with K=4 not reported long: %v", kindsAndIDs(a.findings))
	}

	g := newAuditor(3, 4, false)
	for i, m := range []struct {
		group string
		size  int
	}{{"g1", 2}, {"g1", 2}, {"g2", 2}, {"g3", 1}} {
		id := fmt.Sprint("d", i)
		g.add(inspect(id, doc(id, func(d map[string]any) { d["group_id"], d["group_size"] = m.group, m.size }), expect{}))
	}
	g.add(inspect("d4", doc("d4", func(d map[string]any) { d["group_id"], d["group_size"] = "g3", 2 }), expect{}))
	g.checkGroups()
	if got, want := kindsAndIDs(g.findings), []string{"group:d2", "group:d3,d4"}; !slices.Equal(got, want) {
		t.Errorf("group findings %v, want %v", got, want)
	}
}

// Schema 4: group_id in the product documents, group_size (and a copy of
// group_id) in the list documents; the list's size counts, the product's
// group_id decides membership.
func TestAuditorGroupsFromListDocuments(t *testing.T) {
	type member struct {
		id, group   string // the product document's group_id ("" none)
		listGroup   string // the list document's group_id ("" no group fields)
		listSize    int
		noList      bool
		productSize int // schema 3: group_size in the product document (0 none)
	}
	for _, tc := range []struct {
		name    string
		members []member
		want    []string
	}{
		{"consistent", []member{{id: "a", group: "g1", listGroup: "g1", listSize: 2}, {id: "b", group: "g1", listGroup: "g1", listSize: 2}, {id: "c", group: "g2", listGroup: "g2", listSize: 1}}, nil},
		{"a list's size disagrees", []member{{id: "a", group: "g1", listGroup: "g1", listSize: 2}, {id: "b", group: "g1", listGroup: "g1", listSize: 3}}, []string{"group:a,b"}},
		{"sizes agree but are not the count", []member{{id: "a", group: "g1", listGroup: "g1", listSize: 3}, {id: "b", group: "g1", listGroup: "g1", listSize: 3}}, []string{"group:a,b"}},
		{"a list's group_id is not its product's", []member{{id: "a", group: "g1", listGroup: "g1", listSize: 2}, {id: "b", group: "g1", listGroup: "g9", listSize: 2}}, []string{"list-group:b"}},
		{"a list names a group, its product none", []member{{id: "a", listGroup: "g1", listSize: 1}}, []string{"list-group:a"}},
		{"no group_size anywhere", []member{{id: "a", group: "g1"}}, []string{"group:a"}},
		{"no list document: list-missing says it, not the group check", []member{{id: "a", group: "g1", noList: true}}, nil},
		{"schema 3: the size in the product document", []member{{id: "a", group: "g1", productSize: 2}, {id: "b", group: "g1", productSize: 2}}, nil},
		{"the list's size wins over the product's", []member{{id: "a", group: "g1", productSize: 5, listGroup: "g1", listSize: 1}}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAuditor(3, len(tc.members), false)
			for _, m := range tc.members {
				a.add(inspect(m.id, doc(m.id, func(d map[string]any) {
					delete(d, "similar")
					delete(d, "similar_pi")
					if m.group != "" {
						d["group_id"] = m.group
					}
					if m.productSize > 0 {
						d["group_size"] = m.productSize
					}
				}), expect{}))
				if m.noList {
					continue
				}
				l := map[string]any{"product_id": m.id, "similar_pi": []string{}, "similar": []any{}}
				if m.listGroup != "" {
					l["group_id"], l["group_size"] = m.listGroup, m.listSize
				}
				b, _ := json.Marshal(l)
				a.addList(inspectList(m.id, b))
			}
			a.checkGroups()
			if got := kindsAndIDs(a.findings); !slices.Equal(got, tc.want) {
				t.Errorf("findings %v, want %v", got, tc.want)
				for _, f := range a.findings {
					t.Logf("  %s %v: %s", f.Kind, f.IDs, f.Detail)
				}
			}
		})
	}
}

func TestAuditorQuality(t *testing.T) {
	const n, dims, k = 60, 8, 5
	c := newCorpus(t, n, dims, k)
	if a := c.audit(dims, nil); true {
		s := a.checkQuality(k, 1000, 1, 0.95, 2)
		if s.Size != n || s.K != k || s.Recall != 1 || len(a.findings) != 0 {
			t.Fatalf("exact lists: sample %+v, findings %v", s, kindsAndIDs(a.findings))
		}
	}
	// p00..p05 get their k least similar products, with true scores:
	// sorted and in range, but recall 0 for them.
	worst := map[string]bool{"p00": true, "p01": true, "p02": true, "p03": true, "p04": true, "p05": true}
	a := c.audit(dims, func(id string, l []neighbors.Neighbor) []neighbors.Neighbor {
		if id == "p59" {
			l[0].Similarity -= 0.01 // a stored score that is not the vectors' cosine
		}
		if !worst[id] {
			return l
		}
		i := slices.Index(c.ids, id)
		var all []neighbors.Neighbor
		for j, other := range c.ids {
			if j != i {
				var s float64
				for d := range dims {
					s += float64(c.vecs[i][d]) * float64(c.vecs[j][d])
				}
				all = append(all, neighbors.Neighbor{ID: other, Similarity: float32(math.Trunc(s*10000) / 10000)})
			}
		}
		slices.SortFunc(all, func(x, y neighbors.Neighbor) int { return cmpFloat(float64(y.Similarity), float64(x.Similarity)) })
		return all[len(all)-k:]
	})
	s := a.checkQuality(k, 1000, 1, 0.95, 2)
	if want := float64(n-len(worst)) / n; math.Abs(s.Recall-want) > 1e-9 {
		t.Errorf("recall %v, want %v", s.Recall, want)
	}
	want := []string{"list-score-wrong:p59," + c.lists["p59"][0].ID, "recall:p00,p01,p02,p03,p04,p05"}
	if got := kindsAndIDs(a.findings); !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	// The sample depends on the seed, not on the order documents arrive in.
	s1 := c.audit(dims, nil).checkQuality(k, 7, 99, 0.95, 1)
	s2 := c.audit(dims, nil).checkQuality(k, 7, 99, 0.95, 1)
	if s1 != s2 || s1.Size != 7 {
		t.Errorf("same seed, different samples: %+v %+v", s1, s2)
	}
}
