package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/neighbors"
)

// item is a product that has its vector.
type item struct {
	catalog.Product
	Vector []float32
	SHA256 string
	// Size and MTime are the image file's stat taken before it was hashed
	// (0: unknown), kept in the state snapshot so the next run re-hashes
	// only images whose stat changed.
	Size, MTime int64
}

func newReport(mode string, cfg *Config) *Report {
	return &Report{Mode: mode, StartedAt: cfg.Now().UTC(), Catalog: cfg.CatalogPath, Skipped: []Skipped{}, StageSeconds: map[string]float64{}}
}

// readCatalog reads and validates the catalog, recording every skipped row.
func readCatalog(cfg *Config, rep *Report) ([]catalog.Product, error) {
	var products []catalog.Product
	err := rep.timed("catalog", func() error {
		var skips []catalog.Skip
		var err error
		products, skips, err = catalog.Read(cfg.CatalogPath, cfg.Catalog)
		if err != nil {
			return fmt.Errorf("catalog: %w", err)
		}
		for _, s := range skips {
			slog.Warn("catalog: skipped", "row", s.Row, "line", s.Line, "id", s.ID, "reason", s.Reason)
			rep.skip(Skipped{Stage: "catalog", Row: s.Row, Line: s.Line, ID: s.ID, Image: s.ImageName, Kind: string(s.Kind), Reason: s.Reason})
		}
		rep.CatalogRows = len(products) + len(skips)
		rep.Products = len(products)
		return nil
	})
	return products, err
}

// readCatalogRenamed reads the catalog, applies --rename and refuses
// fields that collide with essync's: the first step of every run.
func readCatalogRenamed(cfg *Config, rep *Report) ([]catalog.Product, error) {
	if len(cfg.Vectors) > 0 {
		cfg.Catalog.ImagesOptional = true // the vectors stand in for the images
	}
	products, err := readCatalog(cfg, rep)
	if err != nil {
		return nil, err
	}
	if err := applyRenames(products, cfg.Renames, cfg.Catalog); err != nil {
		return nil, fmt.Errorf("catalog %s: %w", cfg.CatalogPath, err)
	}
	return products, nil
}

// openEmbedder loads the model card (the shipped default when none is given)
// and starts the embedder.
func openEmbedder(cfg *Config, rep *Report) (*embed.Embedder, error) {
	card, err := embed.LoadCardOrDefault(cfg.ModelCard)
	if err != nil {
		return nil, err
	}
	e, err := embed.New(card, cfg.Embed)
	if err != nil {
		return nil, err
	}
	rep.Model = e.Fingerprint()
	rep.Dims = e.Dims()
	return e, nil
}

// embedProducts computes (or finds in the cache) every product's vector; an
// image that cannot be embedded is recorded as skipped with its reason.
func embedProducts(ctx context.Context, cfg *Config, e *embed.Embedder, products []catalog.Product, rep *Report) ([]item, error) {
	var items []item
	err := rep.timed("embed", func() error {
		inputs := make([]embed.Input, len(products))
		for i, p := range products {
			inputs[i] = embed.Input{ID: p.ID, Path: p.ImagePath}
		}
		results, err := e.Embed(ctx, inputs, cfg.Progress("embed", len(inputs)))
		if err != nil {
			return fmt.Errorf("embed: %w", err)
		}
		items = make([]item, 0, len(results))
		for i, r := range results {
			p := products[i]
			if r.Err != nil {
				slog.Warn("embed: skipped", "row", p.Row, "id", p.ID, "image", p.ImageName, "err", r.Err)
				rep.skip(Skipped{Stage: "embed", Row: p.Row, Line: p.Line, ID: p.ID, Image: p.ImageName, Kind: "image", Reason: r.Err.Error()})
				continue
			}
			if r.Cached {
				rep.FromCache++
			} else {
				rep.Embedded++
			}
			items = append(items, item{Product: p, Vector: r.Vector, SHA256: r.ImageSHA256})
		}
		return nil
	})
	return items, err
}

// buildGraph computes the top-K of every row of vectors (ids[i] owns row i).
func buildGraph(ctx context.Context, cfg *Config, ids []string, vectors []float32, dims int, rep *Report) (*neighbors.Graph, error) {
	var g *neighbors.Graph
	err := rep.timed("neighbors", func() error {
		// The search's memory is a few large, long-lived arrays that it
		// replaces as it widens its lists: collecting early keeps the heap
		// near what is live at little cost (measured in BENCHMARKS.md §4).
		defer debug.SetGCPercent(debug.SetGCPercent(25))
		var err error
		g, err = neighbors.BuildContext(ctx, ids, vectors, dims, cfg.neighborOptions())
		if err != nil {
			return fmt.Errorf("neighbors: %w", err)
		}
		rep.Neighbors = NeighborsReport{K: cfg.K, Exact: g.Exact(), Recall: g.Recall(), RecallMeasured: true}
		return nil
	})
	return g, err
}

// matrixOf lays the items' vectors out as the row-major matrix neighbors
// wants, and points each item's Vector at its row, so the per-item copies
// can be freed and the vectors are held once.
func matrixOf(items []item, dims int) (ids []string, vectors []float32) {
	ids = make([]string, len(items))
	vectors = make([]float32, 0, len(items)*dims)
	for i, it := range items {
		ids[i] = it.ID
		vectors = append(vectors, it.Vector...)
	}
	for i := range items {
		items[i].Vector = vectors[i*dims : (i+1)*dims : (i+1)*dims]
	}
	return ids, vectors
}

// fieldsOf returns a lookup of the items' catalog fields by product id
// and field name.
func fieldsOf(items []item) func(id, name string) json.RawMessage {
	byID := make(map[string]int, len(items))
	for i, it := range items {
		byID[it.ID] = i
	}
	return func(id, name string) json.RawMessage {
		if i, ok := byID[id]; ok {
			return productField(items[i].Product, name)
		}
		return nil
	}
}

// productFields returns the product's catalog fields: its parsed Fields,
// or its Record parsed now (read with catalog.Options.RecordsOnly, only
// products that are written carry a parsed map, and only while written).
func productFields(p catalog.Product) map[string]json.RawMessage {
	if p.Fields != nil || p.Record == nil {
		return p.Fields
	}
	fields, err := p.Record.Fields()
	if err != nil { // the catalog reader kept only JSON objects
		slog.Warn("catalog record no longer parses", "id", p.ID, "err", err)
		return nil
	}
	return fields
}

// productField returns one catalog field of the product (nil when absent).
func productField(p catalog.Product, name string) json.RawMessage {
	if p.Fields != nil || p.Record == nil {
		return p.Fields[name]
	}
	v, _ := p.Record.Field(name)
	return v
}
