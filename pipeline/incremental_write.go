package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
)

// writeIncremental writes the changed documents, then the new state
// snapshot. Documents Elasticsearch refuses count against --max-refused;
// tolerated refusals of new products are taken out of the lists, and the
// changes computed and written again, so no list names a product the index
// does not hold. After any refusal no snapshot is written: the index then
// differs from what this run computed, and the next run reads it.
func writeIncremental(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, meta esindex.Meta, p *plan, snap *snapshot, g *neighbors.Graph, rep *Report) error {
	refused := map[string]bool{}
	sr := rep.snapshot()
	for round := 0; ; round++ {
		ids := g.IDs()
		var w *snapshotWriter
		if round == 0 {
			w = startSnapshot(cfg, index, meta, p, ids, rep)
		}
		// Groups come from the whole graph, as in a full run, so every
		// document whose group changed is written too. The matrix is the
		// new snapshot's mapped vectors when there is one.
		var matrix []float32
		var mapped *npy.Mapped
		if w != nil && snap.vec != nil {
			dropPages(snap.vec.Data) // copied into the new snapshot; the groups read that one
		}
		if w != nil {
			var err error
			if mapped, err = w.mapVectors(); err != nil {
				snapshotFailed(sr, w, err)
				w = nil
			} else {
				matrix = mapped.Data
			}
		}
		if matrix == nil {
			matrix = make([]float32, 0, len(ids)*rep.Dims)
			for _, id := range ids {
				matrix = append(matrix, p.final[id].Vector...)
			}
		}
		grp, err := computeGroups(cfg, g, ids, matrix, rep.Dims, func(id string) map[string]json.RawMessage { return p.final[id].Fields }, rep)
		var ops []esindex.Op
		if err == nil {
			ops, err = changedDocuments(cfg, p, snap, g, grp, ids, w, rep)
		}
		matrix = nil
		if mapped != nil {
			mapped.Close()
		}
		if err != nil {
			w.abort()
			return err
		}
		generation, failed, err := writeChanges(ctx, cfg, es, index, ops, len(p.final), rep)
		if err != nil {
			w.abort()
			return err
		}
		var gone []string
		for _, f := range failed {
			if refused[f.ID] {
				continue
			}
			refused[f.ID] = true
			rep.skip(Skipped{Stage: "index", ID: f.ID, Kind: "rejected", Reason: fmt.Sprintf("elasticsearch refused the %s (%d): %s", f.Action, f.Status, f.Reason)})
			if _, known := snap.row[f.ID]; !known && f.Action == "index" {
				gone = append(gone, f.ID) // a new product the index does not hold
			}
		}
		rep.Index.Refused = len(refused)
		if len(refused) > 0 && w != nil {
			w.abort()
			w = nil
			sr.Reason = "elasticsearch refused documents: no snapshot written, the next run reads the index"
		}
		if allowed := cfg.MaxRefused.Allowed(len(ops)); len(refused) > allowed {
			return fmt.Errorf("%w: elasticsearch refused %d operations, --max-refused allows %s (%d); first: %s: %s (all are listed in the report)",
				ErrGate, len(refused), cfg.MaxRefused, allowed, failed[0].ID, failed[0].Reason)
		}
		if len(gone) == 0 {
			if w != nil {
				commitSnapshot(cfg, w, generation, rep)
			}
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

// startSnapshot begins the snapshot of the state this run leaves, writing
// its vectors in the graph's order (nil without a state dir, or when the
// folder cannot be written: the run goes on without).
func startSnapshot(cfg *Config, index string, meta esindex.Meta, p *plan, ids []string, rep *Report) *snapshotWriter {
	if cfg.StateDir == "" {
		return nil
	}
	var w *snapshotWriter
	err := rep.timed("snapshot", func() error {
		hdr := wantedSnapshot(cfg, index, meta, rep)
		hdr.Count = len(ids)
		var err error
		if w, err = newSnapshotWriter(cfg.StateDir, hdr, ids); err != nil {
			return err
		}
		for _, id := range ids {
			if err := w.addVector(p.final[id].Vector); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		snapshotFailed(rep.snapshot(), w, err)
		return nil
	}
	return w
}

func snapshotFailed(sr *SnapshotReport, w *snapshotWriter, err error) {
	if w != nil {
		w.abort()
	}
	sr.WriteError = err.Error()
	slog.Warn("could not write the state snapshot; the next incremental run reads the index instead", "err", err)
}

// commitSnapshot puts the finished snapshot in place, stamped with the
// index generation the run's writes left.
func commitSnapshot(cfg *Config, w *snapshotWriter, generation int64, rep *Report) {
	sr := rep.snapshot()
	err := rep.timed("snapshot", func() error {
		w.hdr.Generation = generation
		w.hdr.WrittenAt = cfg.Now().UTC().Format(time.RFC3339)
		dir, err := w.commit(cfg.StateDir)
		sr.Dir = dir
		return err
	})
	if err != nil {
		snapshotFailed(sr, nil, err)
		return
	}
	sr.Written, sr.Generation = true, generation
}

// changedDocuments keeps only the documents that differ from the stored
// ones, by the snapshot's digests: a full document for new products and
// changed images or fields, a partial update when only the lists or the
// offer group changed. Each product's fresh record goes to w (when not nil)
// in the order of ids.
func changedDocuments(cfg *Config, p *plan, snap *snapshot, g *neighbors.Graph, grp *groups.Result, ids []string, w *snapshotWriter, rep *Report) ([]esindex.Op, error) {
	var ops []esindex.Op
	syncedAt := cfg.Now().UTC().Format(time.RFC3339)
	err := rep.timed("documents", func() error {
		for _, id := range ids {
			it := p.final[id]
			fresh := freshRecord(it, g, grp, rep.Model)
			if w != nil {
				if err := w.addRow(id, fresh, neighborIDs(g, id)); err != nil {
					return err
				}
			}
			gid, size := grp.Of(id)
			doc := Document{ProductID: id, ImageName: it.ImageName, ImageSHA256: it.SHA256, Vector: it.Vector,
				Similar: g.Neighbors(id), GroupID: gid, GroupSize: size, Model: rep.Model, SyncedAt: syncedAt}
			if row, exists := snap.row[id]; exists {
				old := snap.record(row)
				if _, changed := p.added[id]; !changed && old.Base == fresh.Base {
					if old.Lists == fresh.Lists && old.Group == fresh.Group {
						rep.Changes.Unchanged++
						continue
					}
					if old.Lists != fresh.Lists {
						rep.Changes.ListsChanged++
					}
					if old.Group != fresh.Group {
						rep.Changes.GroupsChanged++
					}
					ops = append(ops, esindex.Op{Action: "update", ID: id, Body: listUpdate(doc)})
					continue
				}
				if old.SHA256 == it.SHA256 {
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
// refreshes, checks the document count and clears the mark. Before the
// first write it bumps the index generation, so a crash anywhere after
// leaves every state snapshot stale; it returns the generation the index
// is at. It also returns the operations Elasticsearch refused; with
// refusals the mark stays set, so the next run recomputes every list.
func writeChanges(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, ops []esindex.Op, want int, rep *Report) (int64, []esindex.ItemFailure, error) {
	var generation int64
	if len(ops) == 0 {
		_, meta, err := esindex.ReadMeta(ctx, es, index)
		if err != nil {
			return 0, nil, err
		}
		rep.Indexed = want
		if meta.Pending { // an interrupted run had written everything: the mark can go
			n, err := esindex.Count(ctx, es, index)
			if err != nil {
				return 0, nil, err
			}
			if n != want {
				return 0, nil, fmt.Errorf("index %s holds %d documents, want %d; the next incremental run will repair it", index, n, want)
			}
			if err := esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Pending, m.Documents = false, n }); err != nil {
				return 0, nil, err
			}
		}
		slog.Info("the index is up to date; nothing written", "index", index)
		return meta.Generation, nil, nil
	}
	var failed []esindex.ItemFailure
	err := rep.timed("index", func() error {
		if err := esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Pending = true; m.Generation++; generation = m.Generation }); err != nil {
			return err
		}
		slog.Info("writing", "index", index, "generation", generation, "operations", len(ops))
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
	return generation, failed, err
}
