package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"sync"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
)

// SnapshotReport says how a run used the local state snapshot (see
// Config.StateDir): whether an incremental run could trust it or why it
// read the live index instead, how many images it hashed again, and the
// snapshot it left behind.
type SnapshotReport struct {
	Dir    string `json:"dir,omitempty"`
	Used   bool   `json:"used"`             // the incremental run trusted the snapshot
	Reason string `json:"reason,omitempty"` // why it was not used
	// IndexDocumentsRead counts documents read back from the live index
	// (0 when the snapshot was used).
	IndexDocumentsRead int `json:"index_documents_read"`
	// Rehashed counts images hashed because their size or mtime differed
	// from the snapshot's record (or there was none); HashSkipped those
	// whose stat matched, so their recorded hash was trusted.
	Rehashed    int `json:"rehashed"`
	HashSkipped int `json:"hash_skipped"`
	// Written says a fresh snapshot was put in place at the end, for the
	// index generation Generation.
	Written    bool   `json:"written"`
	Generation int64  `json:"generation"`
	WriteError string `json:"write_error,omitempty"`
	// Unchanged says the snapshot in place already described the state
	// the run left (it wrote nothing, no record changed): not written again.
	Unchanged bool `json:"unchanged,omitempty"`
}

// wantedSnapshot is the header a snapshot of the live index must carry.
func wantedSnapshot(cfg *Config, index string, meta esindex.Meta, rep *Report) snapshotHeader {
	return snapshotHeader{Alias: cfg.Alias, Index: index, Generation: meta.Generation, Model: rep.Model, Dims: rep.Dims, K: cfg.K, Schema: mappings.SchemaVersion}
}

// loadState opens the alias's snapshot when it describes the live index;
// otherwise it says why in the log and the report and reads the index into
// a temporary snapshot, so both paths go on the same way.
func loadState(ctx context.Context, cfg *Config, es *elasticsearch.Client, live livePair, meta esindex.Meta, rep *Report) (*snapshot, error) {
	index := live.products
	sr := &SnapshotReport{}
	rep.Snapshot = sr
	want := wantedSnapshot(cfg, index, meta, rep)
	if cfg.StateDir == "" {
		sr.Reason = "no state dir given"
	} else {
		sr.Dir = snapshotDir(cfg.StateDir, cfg.Alias)
		snap, err := openSnapshot(sr.Dir)
		if err == nil {
			why := snap.hdr.staleness(want, meta.Documents)
			if why == "" && meta.Pending {
				why = "the index carries the pending mark of an interrupted run"
			}
			if why == "" {
				sr.Used = true
				slog.Info("state snapshot matches the live index; not reading the index", "dir", sr.Dir, "index", index, "generation", meta.Generation, "products", snap.hdr.Count)
				return snap, nil
			}
			snap.Close()
			err = fmt.Errorf("%w: %s: stale: %s", errSnapshot, sr.Dir, why)
		}
		sr.Reason = err.Error()
	}
	slog.Info("reading the live index: the local state snapshot cannot be used", "reason", sr.Reason)
	tmpRoot := cfg.StateDir
	if tmpRoot == "" {
		tmpRoot = os.TempDir()
	}
	return readIndexSnapshot(ctx, es, live, want, tmpRoot, rep)
}

// readIndexSnapshot reads every document of the live pair through points
// in time and streams it into a temporary snapshot (deleted on Close): ids,
// digests and vectors of the product index go to files as they arrive, then
// the list documents of the similar index are written into their products'
// rows; nothing per document stays on the heap but its id. The vectors are
// read because the stored lists are restored from them. A product without
// a list document keeps an empty list (recomputed, and its list document
// written, by this run); a list document without a product is noted in
// snap.orphanLists, and this run deletes it.
func readIndexSnapshot(ctx context.Context, es *elasticsearch.Client, live livePair, want snapshotHeader, tmpRoot string, rep *Report) (*snapshot, error) {
	index := live.products
	n, err := esindex.Count(ctx, es, index)
	if err != nil {
		return nil, err
	}
	want.Count = n
	w, err := newSnapshotWriter(tmpRoot, want, nil)
	if err != nil {
		return nil, err
	}
	read := 0
	err = esindex.Scan(ctx, es, index, nil, 500, func(d esindex.StoredDoc) error {
		doc, err := decodeStored(d.ID, d.Source, want.Dims)
		if err != nil {
			return err
		}
		read++
		return w.add(d.ID, doc.Record, doc.Vector, nil)
	})
	rep.Snapshot.IndexDocumentsRead = read
	if err == nil && read != n {
		err = fmt.Errorf("index %s: read %d documents, it counted %d: another writer? run again", index, read, n)
	}
	if err == nil {
		err = w.finish()
	}
	var orphans []string
	if err == nil {
		orphans, err = readLists(ctx, es, live.lists, w, rep)
	}
	if err != nil {
		w.abort()
		return nil, err
	}
	snap, err := openSnapshot(w.dir)
	if err != nil {
		w.abort()
		return nil, err
	}
	snap.temporary = true
	snap.orphanLists = orphans
	return snap, nil
}

// readLists scans the similar index and writes each list document into
// its product's row of the finished snapshot w; it returns the ids of list
// documents whose product the snapshot does not hold.
func readLists(ctx context.Context, es *elasticsearch.Client, lists string, w *snapshotWriter, rep *Report) ([]string, error) {
	p, err := w.listPatcher()
	if err != nil {
		return nil, err
	}
	var orphans []string
	err = esindex.Scan(ctx, es, lists, nil, 2000, func(d esindex.StoredDoc) error {
		l, err := decodeList(d.ID, d.Source)
		if err != nil {
			return err
		}
		rep.Snapshot.IndexDocumentsRead++
		if ok, err := p.set(d.ID, l.digest(), l.PIs); err != nil {
			return err
		} else if !ok {
			orphans = append(orphans, d.ID)
		}
		return nil
	})
	if cerr := p.close(); err == nil {
		err = cerr
	}
	if len(orphans) > 0 {
		slog.Warn("list documents without their product; this run deletes them", "index", lists, "documents", len(orphans))
	}
	return orphans, err
}

// fileStat is an image file's size and mtime (ns) before it was hashed.
type fileStat struct{ Size, MTime int64 }

// imageHashes returns every product's image sha256 ("" without an image
// path or when unreadable, with the error) and the stat taken before
// hashing. A product the snapshot knows whose image has the recorded size
// and mtime keeps the recorded hash: the file is not read again.
func imageHashes(products []catalog.Product, snap *snapshot, rep *Report) ([]string, []fileStat, []error) {
	sums := make([]string, len(products))
	stats, errs := statFiles(products)
	var paths []string
	var at []int
	for i, p := range products {
		if p.ImagePath == "" || errs[i] != nil {
			continue
		}
		if snap != nil {
			if row, ok := snap.row[p.ID]; ok {
				r := snap.record(row)
				if r.SHA256 != "" && r.MTime != 0 && r.Size == stats[i].Size && r.MTime == stats[i].MTime {
					sums[i] = r.SHA256
					rep.Snapshot.HashSkipped++
					continue
				}
			}
		}
		paths, at = append(paths, p.ImagePath), append(at, i)
	}
	if rep.Snapshot != nil {
		rep.Snapshot.Rehashed += len(paths)
	}
	rep.timed("hash", func() error {
		found, ferrs := hashFiles(paths)
		for k, i := range at {
			sums[i], errs[i] = found[k], ferrs[k]
		}
		return nil
	})
	return sums, stats, errs
}

// statFiles stats every product's image (in parallel); a product without
// an image path gets a zero stat and no error.
func statFiles(products []catalog.Product) ([]fileStat, []error) {
	stats, errs := make([]fileStat, len(products)), make([]error, len(products))
	parallelFor(len(products), func(i int) {
		p := products[i]
		if p.ImagePath == "" {
			return
		}
		fi, err := os.Stat(p.ImagePath)
		if err != nil {
			errs[i] = fmt.Errorf("image %s: %w", p.ImagePath, err)
			return
		}
		stats[i] = fileStat{Size: fi.Size(), MTime: unixNano(fi)}
	})
	return stats, errs
}

// snapshot returns the report's snapshot section, creating it.
func (r *Report) snapshot() *SnapshotReport {
	if r.Snapshot == nil {
		r.Snapshot = &SnapshotReport{}
	}
	return r.Snapshot
}

// parallelFor runs fn(0..n-1) on GOMAXPROCS goroutines.
func parallelFor(n int, fn func(i int)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				lo := next
				next += 256
				mu.Unlock()
				if lo >= n {
					return
				}
				for i := lo; i < min(lo+256, n); i++ {
					fn(i)
				}
			}
		}()
	}
	wg.Wait()
}

// hashFiles returns each image's sha256 as embed computes it (so it compares
// with the stored image_sha256), in parallel; an unreadable file gets an error.
func hashFiles(paths []string) ([]string, []error) {
	sums, errs := make([]string, len(paths)), make([]error, len(paths))
	parallelFor(len(paths), func(i int) { sums[i], errs[i] = embed.FileSHA256(paths[i]) })
	return sums, errs
}

// freshRecord is the snapshot record of the document a run writes for it.
func freshRecord(it item, g *neighbors.Graph, grp *groups.Result, model string) record {
	gid, size := grp.Of(it.ID)
	return freshRecordKeptList(it, freshListsDigest(g.Neighbors(it.ID), gid, size), groupDigest(gid), model)
}

// freshRecordKeptList is freshRecord for a product whose list document
// is known to be as the snapshot's record lists says (its list was
// restored as stored and left alone, its offer group is as it was), with
// group its group digest, already computed.
func freshRecordKeptList(it item, lists, group digest, model string) record {
	return record{SHA256: it.SHA256, Size: it.Size, MTime: it.MTime,
		Base:  baseDigest(productFields(it.Product), it.ID, it.ImageName, model, it.SHA256),
		Lists: lists, Group: group}
}

// listRow is one snapshot row's list as the graph holds it (see
// neighbors.ListRows), in buffers reused from row to row.
type listRow struct {
	rows []int32
	sims []float32
}

func newListRow(k int) listRow { return listRow{rows: make([]int32, k), sims: make([]float32, k)} }

// writeFullSnapshot writes the snapshot of the index a full run just put
// live (generation mappings.FirstGeneration). A failure is only logged and
// reported: the next incremental run reads the index instead.
func writeFullSnapshot(cfg *Config, index string, items []item, g *neighbors.Graph, grp *groups.Result, rep *Report) {
	if cfg.StateDir == "" {
		return
	}
	sr := rep.snapshot()
	err := rep.timed("snapshot", func() error {
		ids := g.IDs()
		byID := make(map[string]int, len(items))
		for i, it := range items {
			byID[it.ID] = i
		}
		hdr := snapshotHeader{Alias: cfg.Alias, Index: index, Generation: mappings.FirstGeneration, Model: rep.Model, Dims: rep.Dims,
			K: cfg.K, Count: len(ids), Schema: mappings.SchemaVersion, WrittenAt: cfg.Now().UTC().Format("2006-01-02T15:04:05Z"),
			Recall: rep.Neighbors.Recall, RecallGeneration: mappings.FirstGeneration}
		w, err := newSnapshotWriter(cfg.StateDir, hdr, ids)
		if err != nil {
			return err
		}
		lr, row := g.ListRows(), newListRow(hdr.K)
		for i, id := range ids {
			it := items[byID[id]]
			lr.Row(id, row.rows, row.sims)
			_, size := grp.Of(id)
			err := w.addVector(it.Vector)
			if err == nil {
				err = w.addScored(id, freshRecord(it, g, grp, rep.Model), row.rows, row.sims, size)
			}
			if err != nil {
				w.abort()
				return err
			}
			// Copying every vector touches the whole --vectors mapping:
			// at 1 M its 4.8 GiB of pages on top of the heap were the full
			// run's peak. Drop what has been copied, as the encoder does.
			if cfg.mapped != nil && (i+1)%dropEvery == 0 {
				npy.DropPages(cfg.mapped)
			}
		}
		npy.DropPages(cfg.mapped)
		sr.Dir, err = w.commit(cfg.StateDir)
		sr.Written, sr.Generation = err == nil, hdr.Generation
		return err
	})
	if err != nil {
		sr.WriteError = err.Error()
		slog.Warn("could not write the state snapshot; the next incremental run reads the index instead", "err", err)
	}
}
