package pipeline_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/pipeline"
)

// catalogVariants writes the e2e catalog as A (before) and A ∪ B − C (after):
// six products are new, five deleted (a whole group, so its members sit in
// many lists), one image changed and one title changed.
func catalogVariants(t *testing.T) (before, after string, added, deleted []string) {
	t.Helper()
	rows := e2eRows(t)
	var a, final []map[string]any
	for _, r := range rows {
		id := r["productId"].(string)
		group := r["group"].(string)
		if group != "camera" {
			a = append(a, r)
		} else {
			added = append(added, id)
		}
		if group == "coffee" && id != "coffee-orig" {
			deleted = append(deleted, id)
			continue
		}
		r2 := map[string]any{}
		for k, v := range r {
			r2[k] = v
		}
		switch id {
		case "cat-half":
			r2["imageName"] = "rocket-half.jpg" // image changed
		case "hubble-orig":
			r2["title"] = "Hubble deep field, new title" // field changed
		}
		final = append(final, r2)
	}
	dir := t.TempDir()
	write := func(name string, v any) string {
		p := filepath.Join(dir, name)
		b, _ := json.MarshalIndent(v, "", " ")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("before.json", a), write("after.json", final), added, deleted
}

// comparable strips what may differ between equivalent documents: every
// product document behind alias, with its list document's similar_pi and
// similar (behind alias-similar) merged in under a "list." prefix.
func comparable(t *testing.T, es *elasticsearch.Client, alias string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	err := esindex.Scan(context.Background(), es, alias, nil, 500, func(d esindex.StoredDoc) error {
		var m map[string]any
		if err := json.Unmarshal(d.Source, &m); err != nil {
			return err
		}
		if book, ok := m["essync"].(map[string]any); ok {
			delete(book, "synced_at")
		}
		out[d.ID] = m
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = esindex.Scan(context.Background(), es, mappings.SimilarAlias(alias), nil, 500, func(d esindex.StoredDoc) error {
		var m map[string]any
		if err := json.Unmarshal(d.Source, &m); err != nil {
			return err
		}
		doc, ok := out[d.ID]
		if !ok {
			doc = map[string]any{} // an orphan list document: shows as a document too many
			out[d.ID] = doc
		}
		for k, v := range m {
			doc["list."+k] = v
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func assertSameDocuments(t *testing.T, got, want map[string]map[string]any) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d documents, want %d", len(got), len(want))
	}
	for id, w := range want {
		g, ok := got[id]
		if !ok {
			t.Errorf("%s missing", id)
			continue
		}
		for k, wv := range w {
			if !reflect.DeepEqual(g[k], wv) {
				if k == "image_vector" {
					t.Errorf("%s: image_vector differs", id)
				} else {
					t.Errorf("%s: %s = %v, full run has %v", id, k, g[k], wv)
				}
			}
		}
		for k := range g {
			if _, ok := w[k]; !ok {
				t.Errorf("%s: extra field %s", id, k)
			}
		}
	}
}

func TestIncrementalEqualsFullAndIsIdempotent(t *testing.T) {
	es := estest.Client(t)
	before, after, added, deleted := catalogVariants(t)
	ctx := context.Background()

	live := estest.IndexName(t, "incr")
	cfg := e2eConfig(t, live)
	cfg.CatalogPath = before
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.CatalogPath = after
	rep, err := pipeline.Incremental(ctx, cfg)
	if err != nil {
		t.Fatalf("incremental: %v", err)
	}
	c := rep.Changes
	if c.New != len(added) || c.Deleted != len(deleted) || c.ImageChanged != 1 || c.FieldsChanged != 1 {
		t.Errorf("changes %+v, want %d new, %d deleted, 1 image and 1 field change", c, len(added), len(deleted))
	}
	if rep.Embedded+rep.FromCache != len(added)+1 {
		t.Errorf("embedded %d (+%d cached), want only the %d new and changed images", rep.Embedded, rep.FromCache, len(added)+1)
	}
	if c.ListsChanged == 0 || c.Unchanged == 0 || c.GroupsChanged == 0 {
		t.Errorf("expected some list-only updates, some group_id updates (the coffee group lost its smallest id) and some untouched documents: %+v", c)
	}
	// The exact minimum, per index: a list change or a new group size
	// writes only the list document, never the product document (and so
	// never its vector); a new group_id writes both.
	if products := c.New + c.ImageChanged + c.FieldsChanged + c.GroupsChanged + c.Deleted; c.WrittenProducts != products {
		t.Errorf("wrote %d product documents, want %d (new, changed image or fields, new group_id, deleted): %+v", c.WrittenProducts, products, c)
	}
	if lists := c.ListsChanged + c.New + c.Deleted; c.WrittenLists != lists {
		t.Errorf("wrote %d list documents, want %d (changed lists or groups, new, deleted): %+v", c.WrittenLists, lists, c)
	}
	if c.Written != c.WrittenProducts+c.WrittenLists {
		t.Errorf("written %d, want products %d + lists %d", c.Written, c.WrittenProducts, c.WrittenLists)
	}
	if rep.Groups == nil || rep.Groups.Groups == 0 || rep.Groups.Threshold == 0 {
		t.Errorf("report groups %+v, want the offer groups with their threshold", rep.Groups)
	}
	if _, ok := rep.StageSeconds["groups"]; !ok {
		t.Errorf("stage_seconds %v has no groups", rep.StageSeconds)
	}

	reference := estest.IndexName(t, "incref")
	ref := e2eConfig(t, reference)
	ref.CatalogPath = after
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	got, want := comparable(t, es, live), comparable(t, es, reference)
	assertSameDocuments(t, got, want) // group_id, list.group_id and list.group_size included
	assertGroupFields(t, want)
	for id, doc := range got {
		for _, pi := range doc["list.similar_pi"].([]any) {
			if slices.Contains(deleted, pi.(string)) {
				t.Errorf("%s still lists deleted %s", id, pi)
			}
		}
	}

	again, err := pipeline.Incremental(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if again.Changes.Written != 0 || again.Index.Bulk.Requests != 0 || again.Embedded != 0 {
		t.Errorf("second run wrote %d documents in %d requests and embedded %d images, want nothing", again.Changes.Written, again.Index.Bulk.Requests, again.Embedded)
	}
}

func TestIncrementalRefusesAnIndexOfAnotherModelOrNone(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "foreign")
	cfg := e2eConfig(t, alias)
	if _, err := pipeline.Incremental(ctx, cfg); err == nil || !errorsIs(err, pipeline.ErrNeedsFull) {
		t.Fatalf("no alias: err %v, want ErrNeedsFull", err)
	}
	// An index with the alias that essync did not build.
	index := alias + "-manual"
	res, err := es.Indices.Create(index)
	if err != nil || res.IsError() {
		t.Fatalf("create: %v %v", err, res)
	}
	res, err = es.Indices.PutAlias([]string{index}, alias)
	if err != nil || res.IsError() {
		t.Fatalf("alias: %v %v", err, res)
	}
	if _, err := pipeline.Incremental(ctx, cfg); !errorsIs(err, pipeline.ErrNeedsFull) {
		t.Fatalf("foreign index: err %v, want ErrNeedsFull", err)
	}
}

// TestIncrementalKilledMidWriteThenRerunEndsLikeAnUninterruptedRun kills a
// real essync incremental while it writes into the live index, then reruns.
func TestIncrementalKilledMidWriteThenRerunEndsLikeAnUninterruptedRun(t *testing.T) {
	es := estest.Client(t)
	before, after, _, _ := catalogVariants(t)
	ctx := context.Background()
	live := estest.IndexName(t, "incrkill")
	cfg := e2eConfig(t, live)
	cfg.CatalogPath = before
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}

	killDuringSecondBulk(t, "incremental", "--catalog", after, "--images", cfg.Catalog.ImagesDir,
		"--index", live, "--exact", "--bulk-bytes", "30000")
	if _, meta, err := esindex.ReadMeta(ctx, es, live); err != nil || !meta.Pending {
		t.Fatalf("after the kill the index should carry the pending mark: %+v %v", meta, err)
	}

	cfg.CatalogPath = after
	if _, err := pipeline.Incremental(ctx, cfg); err != nil {
		t.Fatalf("rerun: %v", err)
	}
	reference := estest.IndexName(t, "incrkillref")
	ref := e2eConfig(t, reference)
	ref.CatalogPath = after
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	assertSameDocuments(t, comparable(t, es, live), comparable(t, es, reference))
	if _, meta, _ := esindex.ReadMeta(ctx, es, live); meta.Pending {
		t.Error("the pending mark is still set after a successful rerun")
	}
}

// assertGroupFields checks every document (of comparable) names its offer
// group, its list document carries the same group_id and a group_size that
// is the number of documents with that group_id, and (schema 4) the product
// document carries no group_size.
func assertGroupFields(t *testing.T, docs map[string]map[string]any) {
	t.Helper()
	count := map[string]int{}
	for id, d := range docs {
		gid, _ := d["group_id"].(string)
		if gid == "" {
			t.Errorf("%s has no group_id", id)
		}
		if d["list.group_id"] != gid {
			t.Errorf("%s: its list document says group_id %v, the product %q", id, d["list.group_id"], gid)
		}
		if size, ok := d["group_size"]; ok {
			t.Errorf("%s: the product document carries group_size %v; schema 4 keeps it in the list document", id, size)
		}
		count[gid]++
	}
	grouped := 0
	for id, d := range docs {
		size, _ := d["list.group_size"].(float64)
		if int(size) != count[d["group_id"].(string)] {
			t.Errorf("%s: group_size %v, but %d documents have group_id %v", id, d["list.group_size"], count[d["group_id"].(string)], d["group_id"])
		}
		if size >= 2 {
			grouped++
		}
	}
	if grouped == 0 {
		t.Error("no offer group of two or more products in a catalog of near-duplicates")
	}
}
