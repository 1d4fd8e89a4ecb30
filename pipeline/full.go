package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
)

// Full rebuilds the index from the catalog: every product is embedded (cache
// permitting), every top-K list computed, and the documents loaded into a new
// concrete index that replaces the live one in one atomic alias swap. The
// live alias is untouched unless every step succeeded. Without Elasticsearch
// (cfg.ES == nil) the documents go to cfg.OutDir as bulk-ready NDJSON.
// The report is returned even with an error, as far as the run got.
func Full(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	rep := newReport("full", &cfg)
	defer func() { rep.FinishedAt = cfg.Now().UTC() }()

	var es *elasticsearch.Client
	if cfg.ES != nil {
		var err error
		if es, err = connect(ctx, *cfg.ES); err != nil {
			return rep, err
		}
	}
	products, embedder, err := readCatalogAndModel(&cfg, rep)
	if err != nil {
		return rep, err
	}
	defer embedder.Close()
	items, err := embedProducts(ctx, &cfg, embedder, products, rep)
	if err != nil {
		return rep, err
	}
	graph, err := buildGraph(&cfg, items, rep.Dims, rep)
	if err != nil {
		return rep, err
	}
	syncedAt := cfg.Now().UTC().Format(time.RFC3339)
	docs, err := encodeAll(items, graph, rep.Model, syncedAt, rep)
	if err != nil {
		return rep, err
	}
	if cfg.NeighborsJSON != "" {
		if err := WriteNearestNeighborsJSON(cfg.NeighborsJSON, graph.IDs(), graph.Neighbors); err != nil {
			return rep, fmt.Errorf("nearest neighbors json: %w", err)
		}
	}
	if es == nil {
		err = writeBulkFile(&cfg, docs, rep)
	} else {
		err = publish(ctx, &cfg, es, docs, rep)
	}
	if err != nil {
		return rep, err
	}
	return rep, checkSkipped(&cfg, rep)
}

// connect builds the client and checks the cluster answers before any slow
// work starts, so a wrong URL fails in a second, not after an hour of embedding.
func connect(ctx context.Context, cfg esindex.Config) (*elasticsearch.Client, error) {
	es, err := esindex.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	version, err := esindex.Ping(ctx, es)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, err)
	}
	slog.Info("elasticsearch", "version", version, "config", cfg.String())
	return es, nil
}

// encodeAll renders every item's document with its neighbour list.
func encodeAll(items []item, g *neighbors.Graph, model, syncedAt string, rep *Report) ([]esindex.Op, error) {
	docs := make([]esindex.Op, 0, len(items))
	warned := map[string]bool{}
	err := rep.timed("documents", func() error {
		for _, it := range items {
			for _, f := range collidingFields(it.Fields) {
				if !warned[f] {
					warned[f] = true
					slog.Warn("catalog field is overwritten by essync's field of the same name", "field", f)
				}
			}
			body, err := encodeDocument(it.Fields, Document{
				ProductID: it.ID, ImageName: it.ImageName, ImageSHA256: it.SHA256, Vector: it.Vector,
				Similar: g.Neighbors(it.ID), Model: model, SyncedAt: syncedAt,
			})
			if err != nil {
				return err
			}
			docs = append(docs, esindex.Op{Action: "index", ID: it.ID, Body: body})
		}
		return nil
	})
	return docs, err
}

// publish loads docs into a new concrete index, verifies it, swaps the alias
// and prunes old indices. Any failure before the swap leaves readers on the
// previous index; the half-built one is pruned by a later run.
func publish(ctx context.Context, cfg *Config, es *elasticsearch.Client, docs []esindex.Op, rep *Report) error {
	return rep.timed("index", func() error {
		body, err := mappings.Render(mappings.Options{Dims: rep.Dims, IndexOptions: cfg.IndexOptions, Shards: cfg.Shards, Replicas: cfg.Replicas, Model: rep.Model})
		if err != nil {
			return fmt.Errorf("mapping: %w", err)
		}
		index := esindex.NewIndexName(cfg.Alias, cfg.Now())
		rep.Index.Alias = cfg.Alias
		if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
			return err
		}
		opts := cfg.Bulk
		opts.Progress = cfg.Progress("index", len(docs))
		res, err := esindex.Bulk(ctx, es, index, slices.Values(docs), opts)
		rep.Index.Bulk = res
		if err != nil {
			return err
		}
		for _, f := range res.Failed {
			rep.skip(Skipped{Stage: "index", ID: f.ID, Kind: "rejected", Reason: fmt.Sprintf("elasticsearch refused the document (%d): %s", f.Status, f.Reason)})
		}
		if err := esindex.FinishLoad(ctx, es, index, cfg.Replicas, res.Succeeded); err != nil {
			return err
		}
		previous, err := esindex.SwapAlias(ctx, es, cfg.Alias, index)
		if err != nil {
			return err
		}
		rep.Index.Live, rep.Index.Previous, rep.Indexed = index, previous, res.Succeeded
		slog.Info("alias swapped", "alias", cfg.Alias, "index", index, "previous", previous, "documents", res.Succeeded)
		pruned, err := esindex.Prune(ctx, es, cfg.Alias, cfg.Keep)
		rep.Index.Pruned = pruned
		if err != nil {
			slog.Warn("pruning old indices failed; the new index is live", "err", err)
		}
		return nil
	})
}

// writeBulkFile writes the documents as bulk-ready NDJSON (action line,
// document line) for users without Elasticsearch at hand.
func writeBulkFile(cfg *Config, docs []esindex.Op, rep *Report) error {
	dir := cfg.OutDir
	if dir == "" {
		dir = "essync-out"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	path := filepath.Join(dir, "documents.ndjson")
	return rep.timed("write", func() error {
		f, err := os.Create(path + ".tmp")
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 1<<20)
		for _, d := range docs {
			meta, _ := json.Marshal(map[string]any{"index": map[string]string{"_id": d.ID}})
			w.Write(meta)
			w.WriteByte('\n')
			w.Write(d.Body)
			w.WriteByte('\n')
		}
		if err := w.Flush(); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		rep.Index.OutFile, rep.Indexed = path, len(docs)
		return os.Rename(path+".tmp", path)
	})
}

// checkSkipped turns "too many skipped products" into ErrTooManySkipped.
func checkSkipped(cfg *Config, rep *Report) error {
	if cfg.MaxSkipped >= 0 && len(rep.Skipped) > cfg.MaxSkipped {
		return fmt.Errorf("%w: %d skipped, --max-skipped is %d (see the report)", ErrTooManySkipped, len(rep.Skipped), cfg.MaxSkipped)
	}
	return nil
}
