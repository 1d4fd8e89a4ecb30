package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

// ErrNeedsFull is returned (wrapped) when the live index cannot be updated
// incrementally — no alias, no essync metadata, another model — and only a
// full run can make it right.
var ErrNeedsFull = errors.New("run essync full")

// Incremental brings the live index up to date with the catalog, touching
// only what changed: new products, changed images (hash differs), changed
// catalog fields, deleted products, and every existing product whose top-K
// changed because of them. The stored neighbour lists are restored, not
// recomputed, and updated incrementally; a document is written only when its
// content changed, so a second run writes nothing. While it writes, the index
// carries a pending mark; a run that finds the mark (a crash mid-write)
// recomputes every list from the stored vectors and so finishes the job.
func Incremental(ctx context.Context, cfg Config) (*Report, error) {
	cfg.defaults()
	rep := newReport("incremental", &cfg)
	rep.Changes = &ChangeReport{}
	defer func() { rep.FinishedAt = cfg.Now().UTC() }()
	defer logIO("incremental", readIOCounters())
	if err := mappings.CheckAlias(cfg.Alias); err != nil {
		return rep, fmt.Errorf("%w: %w", err, ErrUsage)
	}
	if cfg.ES == nil {
		return rep, errors.New("incremental updates the live index and needs Elasticsearch: pass --es-url")
	}
	es, err := connect(ctx, *cfg.ES)
	if err != nil {
		return rep, err
	}
	ctx, release, err := takeLease(ctx, &cfg, es, "essync incremental")
	if err != nil {
		return rep, err
	}
	defer release()
	live, meta, err := liveIndex(ctx, es, cfg.Alias)
	if err != nil {
		return rep, err
	}
	index := live.products
	rep.Index.Alias, rep.Index.Live, rep.Index.Similar = cfg.Alias, index, live.lists
	// Only the products written need their fields parsed (the digests and
	// bodies parse a record when they need it): the catalog keeps each
	// record's text, not a map of its fields.
	cfg.Catalog.RecordsOnly = true
	products, err := readCatalogRenamed(&cfg, rep)
	if err != nil {
		return rep, err
	}
	var embedder *embed.Embedder
	var set *vectors.Set
	if len(cfg.Vectors) > 0 {
		if set, err = openVectors(&cfg, rep); err != nil {
			return rep, err
		}
		defer func() {
			if set.Matrix != nil {
				set.Close()
			}
		}()
	} else {
		if embedder, err = openEmbedder(&cfg, rep); err != nil {
			return rep, err
		}
		defer embedder.Close()
	}
	switch {
	case meta.SchemaVersion != mappings.SchemaVersion:
		return rep, fmt.Errorf("index %s has essync document schema %d but this essync writes schema %d: %w to rebuild it", index, meta.SchemaVersion, mappings.SchemaVersion, ErrNeedsFull)
	case meta.Model != rep.Model:
		return rep, fmt.Errorf("index %s was built with model %s but this run uses %s: %w to rebuild it", index, meta.Model, rep.Model, ErrNeedsFull)
	case meta.K != cfg.K:
		return rep, fmt.Errorf("index %s holds lists of k=%d similar products but this run asks for -k %d: %w to rebuild it", index, meta.K, cfg.K, ErrNeedsFull)
	}
	var snap *snapshot
	if err := rep.timed("read", func() error {
		snap, err = loadState(ctx, &cfg, es, live, meta, rep)
		return err
	}); err != nil {
		return rep, err
	}
	defer snap.Close() // unchanged products' vectors are views of its mapping
	var plan *plan
	if set != nil {
		// Timed on its own: it reads every --vectors row and the snapshot's
		// (at 1 M, two 4.8 GiB files from disk: ≈ 2 minutes, BENCHMARKS §14).
		io0 := readIOCounters()
		rep.timed("plan", func() error {
			plan = planVectorChanges(set, products, snap, rep)
			return nil
		})
		logIO("plan", io0)
		set.Close() // the plan holds copies of what it needs: one mapping of the vectors less
	} else if plan, err = planChanges(ctx, &cfg, embedder, products, snap, rep); err != nil {
		return rep, err
	}
	io0 := readIOCounters()
	graph, err := updateGraph(ctx, &cfg, snap, plan, rep.Dims, meta.Pending, rep)
	logIO("neighbors", io0)
	if err != nil {
		return rep, err
	}
	pass := recallOf(ctx, graph, snap, plan, meta.Pending, rep)
	defer pass.stop(rep) // before snap.Close: the pass reads its mapping
	if err := checkSkipped(&cfg, rep); err != nil {
		return rep, err
	}
	return rep, writeIncremental(ctx, &cfg, es, live, meta, plan, snap, graph, pass, rep)
}

// liveIndex finds the concrete product index behind alias and its similar
// index behind alias-similar, and checks essync built them as a pair.
func liveIndex(ctx context.Context, es *elasticsearch.Client, alias string) (livePair, esindex.Meta, error) {
	live, err := esindex.AliasIndices(ctx, es, alias)
	if err != nil {
		return livePair{}, esindex.Meta{}, err
	}
	if len(live) != 1 {
		return livePair{}, esindex.Meta{}, fmt.Errorf("alias %s points at %d indices, want one built by essync: %w first", alias, len(live), ErrNeedsFull)
	}
	index, meta, err := esindex.ReadMeta(ctx, es, live[0])
	if err != nil {
		return livePair{}, esindex.Meta{}, err
	}
	if meta.Model == "" || !meta.Complete {
		return livePair{}, esindex.Meta{}, fmt.Errorf("index %s has no essync metadata (or was never completed): %w to rebuild it", index, ErrNeedsFull)
	}
	if meta.SchemaVersion != mappings.SchemaVersion {
		return livePair{}, esindex.Meta{}, fmt.Errorf("index %s has essync document schema %d but this essync writes schema %d: %w to rebuild it", index, meta.SchemaVersion, mappings.SchemaVersion, ErrNeedsFull)
	}
	simAlias := mappings.SimilarAlias(alias)
	lists, err := esindex.AliasIndices(ctx, es, simAlias)
	if err != nil {
		return livePair{}, esindex.Meta{}, err
	}
	if want, _ := esindex.SimilarIndexOf(alias, index); len(lists) != 1 || lists[0] != want {
		return livePair{}, esindex.Meta{}, fmt.Errorf("alias %s points at %v, want %s, the similar index of %s: %w to rebuild the pair", simAlias, lists, want, index, ErrNeedsFull)
	}
	return livePair{products: index, lists: lists[0]}, meta, nil
}

// planChanges compares the catalog with the live state: unchanged products
// keep their stored vector; new and changed images are embedded (the vector
// cache helps); products gone from the catalog, or whose image can no longer
// be embedded, are removed — exactly what a full run would leave out. An
// image is hashed again only when its size or mtime differs from the
// snapshot's record.
func planChanges(ctx context.Context, cfg *Config, e *embed.Embedder, products []catalog.Product, snap *snapshot, rep *Report) (*plan, error) {
	p := newPlan(snap, len(products))
	var known, toEmbed []catalog.Product
	for _, pr := range products {
		if _, ok := snap.row[pr.ID]; ok {
			known = append(known, pr)
		}
	}
	sums, stats, errs := imageHashes(known, snap, rep)
	statOf := map[string]fileStat{}
	for i, pr := range known {
		row := snap.row[pr.ID]
		r := snap.record(row)
		switch {
		case errs[i] != nil:
			rep.skip(Skipped{Stage: "embed", Row: pr.Row, Line: pr.Line, ID: pr.ID, Image: pr.ImageName, Kind: "image", Reason: errs[i].Error()})
		case sums[i] != r.SHA256:
			rep.Changes.ImageChanged++
			toEmbed = append(toEmbed, pr)
			statOf[pr.ID] = stats[i]
		default:
			p.put(item{Product: pr, Vector: snap.vector(row), SHA256: r.SHA256, Size: stats[i].Size, MTime: stats[i].MTime})
		}
	}
	var fresh []catalog.Product
	for _, pr := range products {
		if _, ok := snap.row[pr.ID]; !ok {
			rep.Changes.New++
			fresh = append(fresh, pr)
		}
	}
	freshStats, _ := statFiles(fresh)
	for i, st := range freshStats { // before embedding: a later change shows in the stat
		statOf[fresh[i].ID] = st
	}
	toEmbed = append(toEmbed, fresh...)
	embedded, err := embedProducts(ctx, cfg, e, toEmbed, rep)
	if err != nil {
		return nil, err
	}
	for _, it := range embedded {
		it.Size, it.MTime = statOf[it.ID].Size, statOf[it.ID].MTime
		p.put(it)
		p.added[it.ID] = it.Vector
	}
	p.removeRest(snap, products, rep)
	return p, nil
}

// removeRest removes every stored product the plan does not keep, counting
// those gone from the catalog as deleted.
func (p *plan) removeRest(snap *snapshot, products []catalog.Product, rep *Report) {
	for row, id := range snap.ids {
		if p.known[row] < 0 {
			p.removed = append(p.removed, id)
		}
	}
	slices.Sort(p.removed)
	inCatalog := make(map[string]bool, len(products))
	for _, pr := range products {
		inCatalog[pr.ID] = true
	}
	for _, id := range p.removed {
		if !inCatalog[id] { // the others were removed because their image (or vector) failed
			rep.Changes.Deleted++
		}
	}
}

// incrementalRecallSample is how many products an incremental run checks
// against brute force for the report's recall (full's sample is 256): each
// is a pass over every vector, run beside the later stages (recallOf).
const incrementalRecallSample = 32

// updateGraph restores the stored lists and applies the plan. After a crash
// mid-write (pending mark) the stored lists cannot be trusted, so every list
// is recomputed from the vectors instead.
func updateGraph(ctx context.Context, cfg *Config, snap *snapshot, p *plan, dims int, pending bool, rep *Report) (*neighbors.Graph, error) {
	var g *neighbors.Graph
	err := rep.timed("neighbors", func() error {
		opts := cfg.neighborOptions()
		if pending {
			slog.Warn("the previous incremental run did not finish: recomputing every neighbour list")
			ids, vectors := matrixOf(p.all(), dims)
			var err error
			g, err = neighbors.BuildContext(ctx, ids, vectors, dims, opts)
			return err
		}
		var vectors []float32
		if snap.vec != nil {
			vectors = snap.vec.Data // mapped, not copied
			// Restore re-scores every list and Update reads rows at random:
			// without drops the whole mapping would stay resident beside
			// the graph's own memory.
			opts.DropPages = func() { npy.DropPages(vectors) }
			defer prepareSnapshotReads(ctx, snap, p)()
		}
		// The recall is measured apart (recallOf), beside the later
		// stages, or carried from the snapshot when no list changed.
		opts.RestoreRecallSample = -1
		defer debug.SetGCPercent(debug.SetGCPercent(25)) // as full's neighbour stage: the heap peaks here
		var err error
		var repaired []string
		// The snapshot's lists are rows already; turning them into ids
		// and back would cost 20 strings a product. A format-3 snapshot
		// also holds their similarities: then no list is re-scored,
		// and no vector row read for it.
		scored := snap.scored()
		if scored {
			g, repaired, err = neighbors.RestoreScored(ctx, snap.ids, vectors, dims, snap.lists, snap.sims, snap.hdr.K, opts)
			snap.sims = nil // the graph holds them now
		} else {
			g, repaired, err = neighbors.RestoreRows(ctx, snap.ids, vectors, dims, snap.lists, snap.hdr.K, opts)
		}
		if err != nil {
			return fmt.Errorf("restore neighbours: %w", err)
		}
		if len(repaired) > 0 {
			slog.Warn("stored neighbour lists named missing products; recomputed them", "products", len(repaired))
		}
		changed, err := g.UpdateContext(ctx, p.added, p.removed)
		if err != nil {
			return fmt.Errorf("update neighbours: %w", err)
		}
		p.listsChanged = !scored || len(repaired) > 0 || len(changed) > 0 || len(p.added) > 0 || len(p.removed) > 0
		if scored {
			p.lists = &keptLists{touched: make(map[string]bool, len(changed)+len(repaired)), repaired: len(repaired)}
			for _, id := range slices.Concat(changed, repaired) {
				p.lists.touched[id] = true
			}
		}
		return nil
	})
	if g != nil {
		rep.Neighbors = NeighborsReport{K: cfg.K, Exact: g.Exact(), Recall: g.Recall()}
	}
	return g, err
}
