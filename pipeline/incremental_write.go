package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
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
func writeIncremental(ctx context.Context, cfg *Config, es *elasticsearch.Client, live livePair, meta esindex.Meta, p *plan, snap *snapshot, g *neighbors.Graph, pass *recallPass, rep *Report) error {
	index := live.products
	refused := map[string]bool{}
	sr := rep.snapshot()
	for round := 0; ; round++ {
		ids := g.IDs()
		// Without new, changed or removed products the snapshot's vectors
		// are this run's, row for row: the new snapshot links them instead
		// of copying, and, when the lists were restored as stored, it is
		// written only if a row differs from the snapshot's.
		sameVectors := round == 0 && snap.vec != nil && len(p.added) == 0 && len(p.removed) == 0 && slices.Equal(ids, snap.ids)
		var sink *rowSink
		if round == 0 && cfg.StateDir != "" {
			var from *snapshot // whose vectors the new snapshot links
			if sameVectors {
				from = snap
			}
			open := func() *snapshotWriter { return startSnapshot(cfg, index, meta, p, ids, from, rep) }
			// Lazy only when the lists were restored as stored, none
			// repaired, from a snapshot of this format (an older one is
			// written again: the upgrade is a change).
			if sameVectors && p.lists != nil && p.lists.repaired == 0 && snap.hdr.Format == snapshotFormat {
				sink = newLazyRowSink(open, snap, g, ids)
			} else {
				sink = newRowSink(open(), g, cfg.K)
			}
		}
		// Groups come from the whole graph, as in a full run, so every
		// document whose group changed is written too. The matrix is the
		// snapshot's mapped vectors when they are this run's, else the new
		// snapshot's when there is one.
		var matrix []float32
		var mapped *npy.Mapped
		if sameVectors {
			matrix = snap.vec.Data
		} else if w := sink.writer(); w != nil {
			if snap.vec != nil {
				npy.DropPages(snap.vec.Data) // copied into the new snapshot; the groups read that one
			}
			var err error
			if mapped, err = w.mapVectors(); err != nil {
				snapshotFailed(sr, w, err)
				sink = nil
			} else {
				matrix = mapped.Data
			}
		}
		if matrix == nil {
			matrix = make([]float32, 0, len(ids)*rep.Dims)
			for _, id := range ids {
				matrix = append(matrix, p.get(id).Vector...)
			}
		}
		grp, err := computeGroups(cfg, g, ids, matrix, rep.Dims, func(id, name string) json.RawMessage { return productField(p.get(id).Product, name) }, rep)
		if sameVectors {
			npy.DropPages(matrix)
		}
		var changes []change
		if err == nil {
			changes, err = changedDocuments(p, snap, g, grp, ids, sink, rep)
		}
		if err == nil && len(changes) > 0 {
			// The writes bump the index generation: the snapshot must
			// be written again even if every row is as it was.
			err = sink.materialize(len(ids))
		}
		matrix = nil
		if mapped != nil {
			mapped.Close()
		}
		w := sink.writer()
		if err != nil {
			w.abort()
			return err
		}
		if sink.unchanged() {
			sr.Unchanged = true
			slog.Info("the state snapshot describes what this run leaves; not written again", "dir", snap.dir)
		}
		set := &changeSet{changes: changes, p: p, g: g, grp: grp, lists: live.lists, model: rep.Model, syncedAt: cfg.Now().UTC().Format(time.RFC3339)}
		generation, failed, err := writeChanges(ctx, cfg, es, live, set, p.count(), rep)
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
			if _, known := snap.row[f.ID]; !known && f.Action == "index" && f.Index == "" {
				gone = append(gone, f.ID) // a new product the index does not hold
			}
		}
		rep.Index.Refused = len(refused)
		if len(refused) > 0 && w != nil {
			w.abort()
			w = nil
			sr.Reason = "elasticsearch refused documents: no snapshot written, the next run reads the index"
		}
		if allowed := cfg.MaxRefused.Allowed(len(set.changes)); len(refused) > allowed {
			return fmt.Errorf("%w: elasticsearch refused %d operations, --max-refused allows %s (%d); first: %s: %s (all are listed in the report)",
				ErrGate, len(refused), cfg.MaxRefused, allowed, failed[0].ID, failed[0].Reason)
		}
		pass.wait(rep) // before the snapshot, which stores it, and before the graph changes again
		if len(gone) == 0 {
			if w != nil {
				w.hdr.Recall, w.hdr.RecallGeneration = recallToStore(rep, generation)
				commitSnapshot(cfg, w, generation, rep)
			}
			if sr.Unchanged {
				sr.Generation = generation
			}
			return nil
		}
		if round == maxResends {
			return fmt.Errorf("%w: documents were still refused after %d rounds", ErrGate, maxResends)
		}
		for _, id := range gone {
			p.drop(id)
		}
		// Their list documents went in with the refused product documents:
		// the next round deletes both (a missing document's delete is a no-op).
		p.removed = append(p.removed, gone...)
		if _, err := g.UpdateContext(ctx, nil, gone); err != nil {
			return fmt.Errorf("neighbors: %w", err)
		}
		p.lists = nil // the lists changed again: digest them all
		rep.Changes.Unchanged, rep.Changes.ListsChanged, rep.Changes.GroupsChanged, rep.Changes.FieldsChanged = 0, 0, 0, 0
	}
}

// startSnapshot begins the snapshot of the state this run leaves, writing
// its vectors in the graph's order, or, when from is not nil (whose rows
// are ids), linking from's vectors (nil without a state dir, or when the
// folder cannot be written: the run goes on without).
func startSnapshot(cfg *Config, index string, meta esindex.Meta, p *plan, ids []string, from *snapshot, rep *Report) *snapshotWriter {
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
		if from != nil {
			w.reuseVectors(filepath.Join(from.dir, snapVectors), from.digests)
			return nil
		}
		for _, id := range ids {
			if err := w.addVector(p.get(id).Vector); err != nil {
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

// changedDocuments keeps only the writes that differ from what the index
// holds, by the snapshot's digests, each in the index it concerns: a new
// product, a changed image or changed catalog fields write the product
// document; a changed list or offer group size writes the small list
// document in the similar index (lists, never the product document, whose
// vector would be re-indexed); a changed group_id also writes a partial
// update of the product document; a deleted product deletes both. Each
// product's fresh record goes to sink in the order of ids. A list the
// restore took as stored and the update left alone, in an offer group of
// the same id and size, keeps the snapshot's lists digest: only the lists
// that can have changed are digested again.
func changedDocuments(p *plan, snap *snapshot, g *neighbors.Graph, grp *groups.Result, ids []string, sink *rowSink, rep *Report) ([]change, error) {
	var changes []change
	err := rep.timed("documents", func() error {
		for i, id := range ids {
			it := p.get(id)
			row, exists := snap.row[id]
			var old record
			if exists {
				old = snap.record(row)
			}
			var fresh record
			gid, size := grp.Of(id)
			prev, again := p.written[id] // an earlier round of this run wrote it: the index holds that
			if gd := groupDigest(gid); exists && !again && p.lists.kept(id) && gd == old.Group && int32(size) == snap.groupSizes[row] {
				fresh = freshRecordKeptList(*it, old.Lists, gd, rep.Model)
			} else {
				fresh = freshRecord(*it, g, grp, rep.Model)
			}
			if err := sink.add(i, id, fresh, size); err != nil {
				return err
			}
			_, changed := p.added[id]
			if again {
				old, exists, changed = prev, true, false
			}
			if !exists || changed || old.Base != fresh.Base || old.Lists != fresh.Lists || old.Group != fresh.Group {
				p.written[id] = fresh // below, an op is written for it
			}
			if exists && old.Lists != fresh.Lists {
				rep.Changes.ListsChanged++
			}
			if exists && !changed && old.Base == fresh.Base {
				if old.Lists == fresh.Lists && old.Group == fresh.Group {
					rep.Changes.Unchanged++
					continue
				}
				if old.Group != fresh.Group {
					rep.Changes.GroupsChanged++
					changes = append(changes, change{id, updateGroup})
				}
				if old.Lists != fresh.Lists {
					changes = append(changes, change{id, writeList})
				}
				continue
			}
			if exists && old.SHA256 == it.SHA256 {
				rep.Changes.FieldsChanged++
			}
			changes = append(changes, change{id, writeProduct})
			if !exists || old.Lists != fresh.Lists {
				changes = append(changes, change{id, writeList})
			}
		}
		for _, id := range p.removed {
			changes = append(changes, change{id, deleteProduct}, change{id, deleteList})
		}
		for _, id := range snap.orphanLists {
			changes = append(changes, change{id, deleteList})
		}
		return nil
	})
	return changes, err
}

// writeChanges applies set's operations to the live pair under the pending mark (on the
// product index), then refreshes both indices, checks both document counts
// and clears the mark. Before the first write it bumps the index
// generation, so a crash anywhere after leaves every state snapshot stale;
// it returns the generation the index is at. It also returns the
// operations Elasticsearch refused; with refusals the mark stays set, so
// the next run recomputes every list.
func writeChanges(ctx context.Context, cfg *Config, es *elasticsearch.Client, live livePair, set *changeSet, want int, rep *Report) (int64, []esindex.ItemFailure, error) {
	index := live.products
	changes := set.changes
	var generation int64
	if len(changes) == 0 {
		_, meta, err := esindex.ReadMeta(ctx, es, index)
		if err != nil {
			return 0, nil, err
		}
		rep.Indexed = want
		if meta.Pending { // an interrupted run had written everything: the mark can go
			n, err := live.counts(ctx, es, want)
			if err != nil {
				return 0, nil, err
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
		slog.Info("writing", "index", index, "similar", live.lists, "generation", generation, "operations", len(changes))
		bulk := cfg.Bulk
		bulk.Progress = cfg.Progress("index", len(changes))
		res, err := esindex.Bulk(ctx, es, index, set.ops(), bulk)
		addBulk(&rep.Index.Bulk, res)
		rep.Changes.Written += res.Succeeded
		countWrites(rep.Changes, changes, res.Failed)
		if err == nil {
			err = set.err // the stream stopped early
		}
		if err != nil {
			return fmt.Errorf("%w; the live index carries a pending mark and the next incremental run will finish the job", err)
		}
		failed = res.Failed
		for _, name := range []string{index, live.lists} {
			if err := esindex.Refresh(ctx, es, name); err != nil {
				return err
			}
		}
		if len(failed) > 0 {
			rep.Indexed, _ = esindex.Count(ctx, es, index)
			return nil
		}
		n, err := live.counts(ctx, es, want)
		rep.Indexed = n
		if err != nil {
			return err
		}
		return esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Pending, m.Documents = false, n })
	})
	return generation, failed, err
}

// countWrites splits the operations that succeeded by index (see
// ChangeReport.WrittenProducts). A Bulk that stopped early counts as if
// every operation not refused went through: an upper bound, reported only
// with the error.
func countWrites(c *ChangeReport, changes []change, failed []esindex.ItemFailure) {
	for _, ch := range changes {
		if !ch.toLists() {
			c.WrittenProducts++
		} else {
			c.WrittenLists++
		}
	}
	for _, f := range failed {
		if f.Index == "" {
			c.WrittenProducts--
		} else {
			c.WrittenLists--
		}
	}
}

// livePair is the live product index and its similar index.
type livePair struct{ products, lists string }

// counts checks that both indices hold want documents (a list document per
// product) and returns the count.
func (l livePair) counts(ctx context.Context, es *elasticsearch.Client, want int) (int, error) {
	var n int
	for _, name := range []string{l.products, l.lists} {
		got, err := esindex.Count(ctx, es, name)
		if err != nil {
			return 0, err
		}
		if got != want {
			return got, fmt.Errorf("index %s holds %d documents after the update, want %d; the next incremental run will repair it", name, got, want)
		}
		n = got
	}
	return n, nil
}
