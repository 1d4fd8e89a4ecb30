package verify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/pipeline"
	"github.com/essync/essync/verify"
)

var (
	e2eDir   = filepath.Join("..", "testdata", "e2e")
	tinyCard = filepath.Join("..", "testdata", "models", "tiny-nchw-crop.json")
)

// document is a stored product document, numbers kept as written.
type document = map[string]any

// base is a fresh `essync full` of the 48-product e2e catalog (tiny model,
// exact lists) behind its own alias, and what the damage cases start from.
type base struct {
	es      *elasticsearch.Client
	alias   string
	live    string
	images  string              // a private copy of the e2e images
	docs    map[string]document // by id
	mapping map[string]any      // the live index's mappings, _meta included
}

func newBase(t *testing.T) *base {
	t.Helper()
	es := estest.Client(t)
	b := &base{es: es, alias: estest.IndexName(t, "verify"), images: copyDir(t, filepath.Join(e2eDir, "images"))}
	rep, err := pipeline.Full(context.Background(), pipeline.Config{
		CatalogPath: filepath.Join(e2eDir, "catalog.json"),
		Catalog:     catalog.Options{ImagesDir: b.images},
		ModelCard:   tinyCard,
		Exact:       true,
		ES:          &esindex.Config{URLs: []string{estest.URL()}},
		Alias:       b.alias,
		MaxSkipped:  -1,
		OutDir:      t.TempDir(),
		// Every product its own offer group (no two share a productId): the
		// damage cases plant the groups they test, and deleting one product
		// then leaves no group that disagrees with its members' count.
		Groups: pipeline.GroupOptions{Same: "productId"},
	})
	if err != nil {
		t.Fatalf("full: %v", err)
	}
	b.live = rep.Index.Live
	b.docs = map[string]document{}
	err = esindex.Scan(context.Background(), es, b.alias, nil, 500, func(d esindex.StoredDoc) error {
		dec := json.NewDecoder(bytes.NewReader(d.Source))
		dec.UseNumber()
		var doc document
		if err := dec.Decode(&doc); err != nil {
			return err
		}
		b.docs[d.ID] = doc
		return nil
	})
	if err != nil || len(b.docs) != 48 {
		t.Fatalf("read back %d documents: %v", len(b.docs), err)
	}
	// The lists and group sizes (similar index) go into the documents, as
	// one place to damage.
	err = esindex.Scan(context.Background(), es, mappings.SimilarAlias(b.alias), nil, 500, func(d esindex.StoredDoc) error {
		dec := json.NewDecoder(bytes.NewReader(d.Source))
		dec.UseNumber()
		var list document
		if err := dec.Decode(&list); err != nil {
			return err
		}
		b.docs[d.ID]["similar_pi"], b.docs[d.ID]["similar"] = list["similar_pi"], list["similar"]
		if size, ok := list["group_size"]; ok {
			b.docs[d.ID]["group_size"] = size
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read back the lists: %v", err)
	}
	res, err := es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(b.live))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]struct {
		Mappings map[string]any `json:"mappings"`
	}
	mustDecode(t, res.Body, &m)
	b.mapping = m[b.live].Mappings
	return b
}

// clone returns deep copies of the documents and the mapping, to damage.
func (b *base) clone(t *testing.T) (map[string]document, map[string]any) {
	t.Helper()
	var docs map[string]document
	var mapping map[string]any
	roundTrip(t, b.docs, &docs)
	roundTrip(t, b.mapping, &mapping)
	return docs, mapping
}

// listOnly marks a document that publish writes as a list document only
// (no product document): an orphan list.
const listOnly = "_list_only"

// listGroupID, in a document, is the group_id publish writes into its list
// document instead of a copy of the product's.
const listGroupID = "_list_group_id"

// groupsInProduct marks a document whose group fields publish leaves in
// the product document, as schema 3 kept them.
const groupsInProduct = "_groups_in_product"

// publish loads docs into a new index pair with mapping and points alias
// and alias-similar at it, as a full run would: similar_pi, similar and
// group_size go to a list document in the similar index (when the document
// has them) with a copy of group_id (schema 4), the rest to the product
// index. It returns the product index's name.
func (b *base) publish(t *testing.T, alias string, docs map[string]document, mapping map[string]any) string {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	index := esindex.NewIndexName(alias, now)
	body, _ := json.Marshal(map[string]any{"settings": map[string]any{"index": map[string]any{"number_of_replicas": 0}}, "mappings": mapping})
	if err := esindex.CreateIndex(ctx, b.es, index, body); err != nil {
		t.Fatal(err)
	}
	lists := esindex.NewIndexName(mappings.SimilarAlias(alias), now)
	listsBody, err := mappings.RenderSimilar(mappings.Options{Dims: 8, Model: "verify@test"}, index)
	if err != nil {
		t.Fatal(err)
	}
	if err := esindex.CreateIndex(ctx, b.es, lists, listsBody); err != nil {
		t.Fatal(err)
	}
	ops := func(yield func(esindex.Op) bool) {
		for _, id := range slices.Sorted(maps.Keys(docs)) {
			doc := maps.Clone(docs[id])
			list := document{"product_id": id}
			moved := []string{"similar_pi", "similar", "group_size"}
			if doc[groupsInProduct] != nil {
				moved = moved[:2]
			} else if gid, ok := doc["group_id"]; ok {
				list["group_id"] = gid
			}
			if gid, ok := doc[listGroupID]; ok {
				list["group_id"] = gid
			}
			hasList := false
			for _, k := range moved {
				if v, ok := doc[k]; ok {
					list[k], hasList = v, true
					delete(doc, k)
				}
			}
			delete(doc, listGroupID)
			delete(doc, groupsInProduct)
			if doc[listOnly] == nil {
				body, err := json.Marshal(doc)
				if err != nil {
					t.Errorf("encode %s: %v", id, err)
					return
				}
				if !yield(esindex.Op{ID: id, Body: body}) {
					return
				}
			}
			if hasList {
				body, _ := json.Marshal(list)
				if !yield(esindex.Op{ID: id, Body: body, Index: lists}) {
					return
				}
			}
		}
	}
	res, err := esindex.Bulk(ctx, b.es, index, ops, esindex.BulkOptions{})
	if err != nil || len(res.Failed) > 0 {
		t.Fatalf("bulk: %v %+v", err, res.Failed)
	}
	for _, name := range []string{index, lists} {
		if err := esindex.Refresh(ctx, b.es, name); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := esindex.SwapPair(ctx, b.es, alias, index); err != nil {
		t.Fatal(err)
	}
	return index
}

// putDoc writes one JSON document and makes it visible.
func putDoc(t *testing.T, es *elasticsearch.Client, index, id string, doc any) {
	t.Helper()
	body, _ := json.Marshal(doc)
	res, err := es.Index(index, bytes.NewReader(body), es.Index.WithDocumentID(id), es.Index.WithRefresh("true"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.IsError() {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("index %s/%s: %s %s", index, id, res.Status(), b)
	}
}

func mustDecode(t *testing.T, r io.ReadCloser, out any) {
	t.Helper()
	defer r.Close()
	if err := json.NewDecoder(r).Decode(out); err != nil {
		t.Fatal(err)
	}
}

func roundTrip(t *testing.T, in, out any) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(out); err != nil {
		t.Fatal(err)
	}
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// list returns a document's similar entries and similar_pi, to edit in place.
func list(d document) (sim []any, pis []any) {
	return d["similar"].([]any), d["similar_pi"].([]any)
}

func num(v any) float64 {
	f, _ := v.(json.Number).Float64()
	return f
}

// setBookkeeping sets one of essync's per-document fields wherever the
// document keeps them (under "essync" in schema 2, top level before).
func setBookkeeping(d document, key string, value any) {
	if e, ok := d["essync"].(map[string]any); ok {
		e[key] = value
		return
	}
	d[key] = value
}

var bookkeepingKeys = []string{"model", "image_sha256", "synced_at"}

// toSchema moves the bookkeeping under "essync" (nested) or to the top level.
func toSchema(d document, nested bool) {
	if e, ok := d["essync"].(map[string]any); ok && !nested {
		for _, k := range bookkeepingKeys {
			d[k] = e[k]
		}
		delete(d, "essync")
	}
	if _, ok := d["essync"]; !ok && nested {
		e := map[string]any{}
		for _, k := range bookkeepingKeys {
			e[k] = d[k]
			delete(d, k)
		}
		d["essync"] = e
	}
}

// findingKeys renders findings as sorted "kind:id,id" strings.
func findingKeys(fs []verify.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f.Kind) + ":" + strings.Join(f.IDs, ",")
	}
	slices.Sort(out)
	return out
}
