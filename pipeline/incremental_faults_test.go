package pipeline_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/pipeline"
)

// TestIncrementalThroughFaultsEqualsTheFaultFreeResult runs an incremental
// update (new, changed, list-only updates, deletions) through whole-request
// 429s, item-level 429s on every kind of operation, and connections dropped
// before and after the server applied the request; then one whose every bulk
// request is refused. Each ends like a full run of the same catalog.
func TestIncrementalThroughFaultsEqualsTheFaultFreeResult(t *testing.T) {
	es := estest.Client(t)
	before, after, _, _ := catalogVariants(t)
	ctx := context.Background()
	reference := estest.IndexName(t, "incfref")
	ref := e2eConfig(t, reference)
	ref.CatalogPath = after
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	want := comparable(t, es, reference)

	t.Run("transient faults", func(t *testing.T) {
		live := estest.IndexName(t, "incfaults")
		cfg := e2eConfig(t, live)
		cfg.CatalogPath = before
		if _, err := pipeline.Full(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{
			estest.Reject429, estest.ItemRejections, estest.DropBefore, estest.DropAfter, estest.ItemRejectionsAll,
			estest.ItemRejections, estest.DropAfter, estest.Reject429, estest.ItemRejections, estest.DropBefore,
			estest.ItemRejectionsAll, estest.DropAfter, estest.ItemRejections,
		})
		cfg.CatalogPath = after
		cfg.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
		cfg.Bulk = esindex.BulkOptions{FlushBytes: 12 << 10, RetryBase: 5 * time.Millisecond}
		rep, err := pipeline.Incremental(ctx, cfg)
		if err != nil {
			t.Fatalf("incremental through faults: %v", err)
		}
		for _, f := range []estest.Fault{estest.Reject429, estest.ItemRejections, estest.DropBefore, estest.DropAfter, estest.ItemRejectionsAll} {
			if proxy.Count(f) == 0 {
				t.Errorf("fault %d never injected", f)
			}
		}
		if rep.Index.Bulk.Retried == 0 {
			t.Errorf("no operation was retried: %+v", rep.Index.Bulk)
		}
		assertSameDocuments(t, comparable(t, es, live), want)
		if _, meta, _ := esindex.ReadMeta(ctx, es, live); meta.Pending {
			t.Error("pending mark left after a successful run")
		}
	})

	t.Run("refused requests", func(t *testing.T) {
		live := estest.IndexName(t, "increfused")
		cfg := e2eConfig(t, live)
		cfg.CatalogPath = before
		if _, err := pipeline.Full(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		proxy := estest.NewFaultProxy(t, estest.URL(), nil).Then(estest.Refuse403)
		faulty := cfg
		faulty.CatalogPath = after
		faulty.ES = &esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1}
		_, err := pipeline.Incremental(ctx, faulty)
		var refused *esindex.RefusedError
		if !errors.As(err, &refused) || refused.Status != 403 {
			t.Fatalf("err %v, want the 403 refusal", err)
		}
		if _, held, _ := esindex.ReadLease(ctx, es, live); held {
			t.Error("the failed run kept its lease")
		}
		cfg.CatalogPath = after
		if _, err := pipeline.Incremental(ctx, cfg); err != nil {
			t.Fatalf("the run after the refusal: %v", err)
		}
		assertSameDocuments(t, comparable(t, es, live), want)
	})
}

func TestIncrementalRefusesAnotherKOrSchema(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "incrk")
	cfg := e2eConfig(t, alias)
	rep, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	other := cfg
	other.K = 10
	if _, err := pipeline.Incremental(ctx, other); !errors.Is(err, pipeline.ErrNeedsFull) || !strings.Contains(err.Error(), "-k 10") {
		t.Errorf("another -k: err %v, want the run-essync-full advice naming -k", err)
	}
	// Schema 2 kept the lists in the product documents, schema 3 the group
	// sizes: only a full run builds the documents of schema 4.
	for _, old := range []int{2, 3} {
		if err := esindex.SetMeta(ctx, es, rep.Index.Live, func(m *esindex.Meta) { m.SchemaVersion = old }); err != nil {
			t.Fatal(err)
		}
		_, err := pipeline.Incremental(ctx, cfg)
		if !errors.Is(err, pipeline.ErrNeedsFull) || !strings.Contains(err.Error(), fmt.Sprintf("schema %d", old)) || !strings.Contains(err.Error(), "essync full") {
			t.Errorf("schema %d: err %v, want the run-essync-full advice naming the schema", old, err)
		}
	}
}

// TestCatalogFieldsAreNeverOverwritten: a catalog's own "model" (a shoe
// model) is kept next to essync's bookkeeping; a catalog field named like
// one essync writes at the top level is refused unless renamed.
func TestCatalogFieldsAreNeverOverwritten(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	rows := e2eRows(t)
	for i, r := range rows {
		r["model"] = "Air Max 90"
		r["synced_at"] = "yesterday"
		if i%3 == 0 {
			r["similar"] = "see also: the catalog's own list"
			r["group_id"] = "shop-group-7"
		}
	}
	path := filepath.Join(t.TempDir(), "catalog.json")
	out, _ := json.Marshal(rows)
	os.WriteFile(path, out, 0o644)

	alias := estest.IndexName(t, "collide")
	cfg := e2eConfig(t, alias)
	cfg.CatalogPath = path
	rep, err := pipeline.Full(ctx, cfg)
	if !errors.Is(err, pipeline.ErrUsage) || !errors.Is(err, pipeline.ErrFieldCollision) ||
		!strings.Contains(err.Error(), "similar (16 products)") || !strings.Contains(err.Error(), "group_id") ||
		!strings.Contains(err.Error(), "--rename") {
		t.Fatalf("colliding catalog: err %v, want a usage error naming similar and group_id and --rename", err)
	}
	if rep.Embedded+rep.FromCache != 0 {
		t.Errorf("the refused run embedded %d images first", rep.Embedded+rep.FromCache)
	}
	if _, err := pipeline.Incremental(ctx, cfg); !errors.Is(err, pipeline.ErrUsage) && !errors.Is(err, pipeline.ErrNeedsFull) {
		t.Errorf("incremental: %v", err)
	}

	cfg.Renames = map[string]string{"similar": "catalog_similar", "group_id": "shop_group"}
	if rep, err = pipeline.Full(ctx, cfg); err != nil {
		t.Fatalf("with --rename: %v", err)
	}
	docs := map[string]map[string]any{}
	esindex.Scan(ctx, es, alias, nil, 500, func(d esindex.StoredDoc) error {
		var m map[string]any
		json.Unmarshal(d.Source, &m)
		docs[d.ID] = m
		return nil
	})
	if len(docs) != 48 {
		t.Fatalf("%d documents", len(docs))
	}
	for id, d := range docs {
		book, _ := d["essync"].(map[string]any)
		if d["model"] != "Air Max 90" || d["synced_at"] != "yesterday" || book["model"] != rep.Model || book["synced_at"] == "yesterday" {
			t.Errorf("%s: catalog model %v / synced_at %v, essync %v: catalog fields must stay, bookkeeping apart", id, d["model"], d["synced_at"], book)
		}
		if v, ok := d["similar"]; ok {
			t.Errorf("%s: similar is %v in the product document; the catalog's is catalog_similar, essync's list is in the similar index", id, v)
		}
	}
	if d := docs["astronaut-orig"]; d["catalog_similar"] != "see also: the catalog's own list" || d["shop_group"] != "shop-group-7" {
		t.Errorf("renamed fields missing: %v", d)
	}
	cfg.CatalogPath = path
	if rep, err := pipeline.Incremental(ctx, cfg); err != nil || rep.Changes.Written != 0 {
		t.Errorf("incremental with the same renames: err %v, wrote %v; want nothing to write", err, rep.Changes)
	}
}
