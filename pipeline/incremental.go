package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
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
	index, meta, err := liveIndex(ctx, es, cfg.Alias)
	if err != nil {
		return rep, err
	}
	rep.Index.Alias, rep.Index.Live = cfg.Alias, index
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
		defer set.Close() // the graph holds views of new vectors until the run ends
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
	var state map[string]*stored
	if err := rep.timed("read", func() error {
		state, err = readState(ctx, es, index, rep.Dims)
		return err
	}); err != nil {
		return rep, err
	}
	var plan *plan
	if set != nil {
		plan = planVectorChanges(set, products, state, rep)
	} else if plan, err = planChanges(ctx, &cfg, embedder, products, state, rep); err != nil {
		return rep, err
	}
	graph, err := updateGraph(ctx, &cfg, state, plan, rep.Dims, meta.Pending, rep)
	if err != nil {
		return rep, err
	}
	if err := checkSkipped(&cfg, rep); err != nil {
		return rep, err
	}
	return rep, writeIncremental(ctx, &cfg, es, index, plan, state, graph, rep)
}

// writeIncremental writes the changed documents. Documents Elasticsearch
// refuses count against --max-refused; tolerated refusals of new products
// are taken out of the lists, and the changes computed and written again, so
// no list names a product the index does not hold.
func writeIncremental(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, p *plan, state map[string]*stored, g *neighbors.Graph, rep *Report) error {
	refused := map[string]bool{}
	for round := 0; ; round++ {
		// Groups come from the whole graph, as in a full run, so every
		// document whose group changed is written too.
		ids := g.IDs()
		vectors := make([]float32, 0, len(ids)*rep.Dims)
		for _, id := range ids {
			vectors = append(vectors, p.final[id].Vector...)
		}
		grp, err := computeGroups(cfg, g, ids, vectors, rep.Dims, func(id string) map[string]json.RawMessage { return p.final[id].Fields }, rep)
		if err != nil {
			return err
		}
		vectors = nil
		ops, err := changedDocuments(cfg, p, state, g, grp, rep)
		if err != nil {
			return err
		}
		failed, err := writeChanges(ctx, cfg, es, index, ops, len(p.final), rep)
		if err != nil {
			return err
		}
		var gone []string
		for _, f := range failed {
			if refused[f.ID] {
				continue
			}
			refused[f.ID] = true
			rep.skip(Skipped{Stage: "index", ID: f.ID, Kind: "rejected", Reason: fmt.Sprintf("elasticsearch refused the %s (%d): %s", f.Action, f.Status, f.Reason)})
			if _, known := state[f.ID]; !known && f.Action == "index" {
				gone = append(gone, f.ID) // a new product the index does not hold
			}
		}
		rep.Index.Refused = len(refused)
		if allowed := cfg.MaxRefused.Allowed(len(ops)); len(refused) > allowed {
			return fmt.Errorf("%w: elasticsearch refused %d operations, --max-refused allows %s (%d); first: %s: %s (all are listed in the report)",
				ErrGate, len(refused), cfg.MaxRefused, allowed, failed[0].ID, failed[0].Reason)
		}
		if len(gone) == 0 {
			return nil
		}
		if round == maxResends {
			return fmt.Errorf("%w: documents were still refused after %d rounds", ErrGate, maxResends)
		}
		for _, id := range gone {
			delete(p.final, id)
			delete(p.added, id)
		}
		if _, err := g.UpdateContext(ctx, nil, gone); err != nil {
			return fmt.Errorf("neighbors: %w", err)
		}
		rep.Changes.Unchanged, rep.Changes.ListsChanged, rep.Changes.GroupsChanged, rep.Changes.FieldsChanged = 0, 0, 0, 0
	}
}

// liveIndex finds the concrete index behind alias and checks essync built it.
func liveIndex(ctx context.Context, es *elasticsearch.Client, alias string) (string, esindex.Meta, error) {
	live, err := esindex.AliasIndices(ctx, es, alias)
	if err != nil {
		return "", esindex.Meta{}, err
	}
	if len(live) != 1 {
		return "", esindex.Meta{}, fmt.Errorf("alias %s points at %d indices, want one built by essync: %w first", alias, len(live), ErrNeedsFull)
	}
	index, meta, err := esindex.ReadMeta(ctx, es, live[0])
	if err != nil {
		return "", esindex.Meta{}, err
	}
	if meta.Model == "" || !meta.Complete {
		return "", esindex.Meta{}, fmt.Errorf("index %s has no essync metadata (or was never completed): %w to rebuild it", index, ErrNeedsFull)
	}
	return index, meta, nil
}

// plan is what the catalog and the live index say must happen.
type plan struct {
	final   map[string]item // every product that belongs in the index, with its vector
	added   map[string][]float32
	removed []string
}

// planChanges compares the catalog with the live state: unchanged products
// keep their stored vector; new and changed images are embedded (the vector
// cache helps); products gone from the catalog, or whose image can no longer
// be embedded, are removed — exactly what a full run would leave out.
func planChanges(ctx context.Context, cfg *Config, e *embed.Embedder, products []catalog.Product, state map[string]*stored, rep *Report) (*plan, error) {
	p := &plan{final: map[string]item{}, added: map[string][]float32{}}
	var known []catalog.Product
	for _, pr := range products {
		if _, ok := state[pr.ID]; ok {
			known = append(known, pr)
		}
	}
	paths := make([]string, len(known))
	for i, pr := range known {
		paths[i] = pr.ImagePath
	}
	var sums []string
	var errs []error
	rep.timed("hash", func() error { sums, errs = hashFiles(paths); return nil })
	var toEmbed []catalog.Product
	for i, pr := range known {
		s := state[pr.ID]
		switch {
		case errs[i] != nil:
			rep.skip(Skipped{Stage: "embed", Row: pr.Row, Line: pr.Line, ID: pr.ID, Image: pr.ImageName, Kind: "image", Reason: errs[i].Error()})
		case sums[i] != s.SHA256:
			rep.Changes.ImageChanged++
			toEmbed = append(toEmbed, pr)
		default:
			p.final[pr.ID] = item{Product: pr, Vector: s.Vector, SHA256: s.SHA256}
		}
	}
	for _, pr := range products {
		if _, ok := state[pr.ID]; !ok {
			rep.Changes.New++
			toEmbed = append(toEmbed, pr)
		}
	}
	embedded, err := embedProducts(ctx, cfg, e, toEmbed, rep)
	if err != nil {
		return nil, err
	}
	for _, it := range embedded {
		p.final[it.ID] = it
		p.added[it.ID] = it.Vector
	}
	p.removeRest(state, products, rep)
	return p, nil
}

// removeRest removes every stored product the plan does not keep, counting
// those gone from the catalog as deleted.
func (p *plan) removeRest(state map[string]*stored, products []catalog.Product, rep *Report) {
	for id := range state {
		if _, ok := p.final[id]; !ok {
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

// updateGraph restores the stored lists and applies the plan. After a crash
// mid-write (pending mark) the stored lists cannot be trusted, so every list
// is recomputed from the vectors instead.
func updateGraph(ctx context.Context, cfg *Config, state map[string]*stored, p *plan, dims int, pending bool, rep *Report) (*neighbors.Graph, error) {
	var g *neighbors.Graph
	err := rep.timed("neighbors", func() error {
		opts := cfg.neighborOptions()
		if pending {
			slog.Warn("the previous incremental run did not finish: recomputing every neighbour list")
			items := slices.Collect(maps.Values(p.final))
			slices.SortFunc(items, func(a, b item) int { return a.Row - b.Row })
			ids, vectors := matrixOf(items, dims)
			var err error
			g, err = neighbors.BuildContext(ctx, ids, vectors, dims, opts)
			return err
		}
		ids := slices.Sorted(maps.Keys(state))
		vectors := make([]float32, 0, len(ids)*dims)
		lists := make([][]string, len(ids))
		for i, id := range ids {
			vectors = append(vectors, state[id].Vector...)
			lists[i] = state[id].Similar
		}
		var err error
		var repaired []string
		g, repaired, err = neighbors.RestoreContext(ctx, ids, vectors, dims, lists, opts)
		if err != nil {
			return fmt.Errorf("restore neighbours: %w", err)
		}
		if len(repaired) > 0 {
			slog.Warn("stored neighbour lists named missing products; recomputed them", "products", len(repaired))
		}
		if _, err := g.UpdateContext(ctx, p.added, p.removed); err != nil {
			return fmt.Errorf("update neighbours: %w", err)
		}
		return nil
	})
	if g != nil {
		rep.Neighbors = NeighborsReport{K: cfg.K, Exact: g.Exact(), Recall: g.Recall()}
	}
	return g, err
}

// changedDocuments renders every product's document and keeps only those
// that differ from the stored one: a full document for new products and
// changed images or fields, a partial update when only the lists or the
// offer group changed.
func changedDocuments(cfg *Config, p *plan, state map[string]*stored, g *neighbors.Graph, grp *groups.Result, rep *Report) ([]esindex.Op, error) {
	var ops []esindex.Op
	syncedAt := cfg.Now().UTC().Format(time.RFC3339)
	err := rep.timed("documents", func() error {
		for _, id := range slices.Sorted(maps.Keys(p.final)) {
			it := p.final[id]
			gid, size := grp.Of(id)
			doc := Document{ProductID: id, ImageName: it.ImageName, ImageSHA256: it.SHA256, Vector: it.Vector,
				Similar: g.Neighbors(id), GroupID: gid, GroupSize: size, Model: rep.Model, SyncedAt: syncedAt}
			s, exists := state[id]
			if exists {
				doc.SyncedAt = s.SyncedAt // compare content, not the time stamp
				body, err := encodeDocument(it.Fields, doc)
				if err != nil {
					return err
				}
				var fresh map[string]json.RawMessage
				json.Unmarshal(body, &fresh)
				if sameDocument(fresh, s.Source) {
					rep.Changes.Unchanged++
					continue
				}
				doc.SyncedAt = syncedAt
				if onlyListsDiffer(fresh, s.Source) {
					if !sameJSON(fresh["similar"], s.Source["similar"]) || !sameJSON(fresh["similar_pi"], s.Source["similar_pi"]) {
						rep.Changes.ListsChanged++
					}
					if !sameJSON(fresh["group_id"], s.Source["group_id"]) || !sameJSON(fresh["group_size"], s.Source["group_size"]) {
						rep.Changes.GroupsChanged++
					}
					ops = append(ops, esindex.Op{Action: "update", ID: id, Body: listUpdate(doc)})
					continue
				}
				if s.SHA256 == it.SHA256 {
					rep.Changes.FieldsChanged++
				}
			}
			body, err := encodeDocument(it.Fields, doc)
			if err != nil {
				return err
			}
			ops = append(ops, esindex.Op{Action: "index", ID: id, Body: body})
		}
		for _, id := range p.removed {
			ops = append(ops, esindex.Op{Action: "delete", ID: id})
		}
		return nil
	})
	return ops, err
}

// onlyListsDiffer reports whether a and b differ only in the neighbour lists
// and the offer group: what a partial update rewrites.
func onlyListsDiffer(a, b map[string]json.RawMessage) bool {
	strip := func(m map[string]json.RawMessage) map[string]json.RawMessage {
		c := maps.Clone(m)
		for _, k := range []string{"similar_pi", "similar", "group_id", "group_size"} {
			delete(c, k)
		}
		return c
	}
	return sameDocument(strip(a), strip(b))
}

// listUpdate is the partial update that replaces a document's lists and
// offer group.
func listUpdate(d Document) []byte {
	f := essyncFields(d)
	body, _ := json.Marshal(map[string]any{"doc": map[string]any{
		"similar_pi": f["similar_pi"], "similar": f["similar"], "group_id": f["group_id"], "group_size": f["group_size"],
		"essync": map[string]string{"synced_at": d.SyncedAt},
	}})
	return body
}

// writeChanges applies ops to the live index under the pending mark, then
// refreshes, checks the document count and clears the mark. It returns the
// operations Elasticsearch refused; with refusals the mark stays set, so
// the next run recomputes every list.
func writeChanges(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, ops []esindex.Op, want int, rep *Report) ([]esindex.ItemFailure, error) {
	if len(ops) == 0 {
		rep.Indexed = want
		slog.Info("the index is up to date; nothing written", "index", index)
		return nil, nil
	}
	var failed []esindex.ItemFailure
	err := rep.timed("index", func() error {
		if err := esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Pending = true }); err != nil {
			return err
		}
		bulk := cfg.Bulk
		bulk.Progress = cfg.Progress("index", len(ops))
		res, err := esindex.Bulk(ctx, es, index, slices.Values(ops), bulk)
		addBulk(&rep.Index.Bulk, res)
		rep.Changes.Written += res.Succeeded
		if err != nil {
			return fmt.Errorf("%w; the live index carries a pending mark and the next incremental run will finish the job", err)
		}
		failed = res.Failed
		if err := esindex.Refresh(ctx, es, index); err != nil {
			return err
		}
		n, err := esindex.Count(ctx, es, index)
		if err != nil {
			return err
		}
		rep.Indexed = n
		if len(failed) > 0 {
			return nil
		}
		if n != want {
			return fmt.Errorf("index %s holds %d documents after the update, want %d; the next incremental run will repair it", index, n, want)
		}
		return esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Pending, m.Documents = false, n })
	})
	return failed, err
}
