package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
)

// maxResends bounds the rounds of taking refused products out of the lists
// and sending the documents whose lists changed.
const maxResends = 3

// load bulk-loads the documents into index and applies the refusal part of the gate:
// more refused documents than --max-refused fails the run; tolerated ones
// are listed in the report, removed from the graph, and every document whose
// list named them, or whose offer group changed without them, is sent again.
// It returns the documents the index holds.
func load(ctx context.Context, cfg *Config, es *elasticsearch.Client, index string, enc *encoder, rep *Report) (int, error) {
	items, g := enc.items, enc.g
	byID := enc.index()
	refused := map[string]bool{}
	allowed := cfg.MaxRefused.Allowed(len(items))
	opts := cfg.Bulk
	opts.Progress = cfg.Progress("index", 2*len(items)) // a product document and a list document each
	docs := enc.all()
	for round := 0; ; round++ {
		res, err := esindex.Bulk(ctx, es, index, docs, opts)
		addBulk(&rep.Index.Bulk, res)
		enc.record(rep)
		if err == nil {
			err = enc.err
		}
		if err != nil {
			return 0, err
		}
		var fresh []string
		for _, f := range res.Failed {
			if f.Index != "" { // essync's own small document: nothing in the catalog explains it
				return 0, fmt.Errorf("%w: elasticsearch refused the list document of %s in %s (%d): %s", ErrGate, f.ID, f.Index, f.Status, f.Reason)
			}
			if refused[f.ID] {
				continue
			}
			refused[f.ID] = true
			fresh = append(fresh, f.ID)
			it := items[byID[f.ID]]
			rep.skip(Skipped{Stage: "index", ID: f.ID, Image: it.ImageName, Row: it.Row, Kind: "rejected",
				Reason: fmt.Sprintf("elasticsearch refused the document (%d): %s", f.Status, f.Reason)})
		}
		rep.Index.Refused = len(refused)
		if len(refused) > allowed {
			first := res.Failed[0]
			return 0, fmt.Errorf("%w: elasticsearch refused %d documents, --max-refused allows %s (%d); first: %s: %s (all are listed in the report)",
				ErrGate, len(refused), cfg.MaxRefused, allowed, first.ID, first.Reason)
		}
		if len(fresh) == 0 {
			break
		}
		if round == maxResends {
			return 0, fmt.Errorf("%w: documents were still refused after %d rounds of taking refused products out of the lists", ErrGate, maxResends)
		}
		slog.Warn("elasticsearch refused documents; taking them out of every similar list", "refused", len(fresh), "max_refused", allowed)
		changed, err := g.UpdateContext(ctx, nil, fresh)
		if err != nil {
			return 0, fmt.Errorf("neighbors: %w", err)
		}
		ids := g.IDs()
		vectors := make([]float32, 0, len(ids)*rep.Dims)
		for _, id := range ids {
			vectors = append(vectors, items[byID[id]].Vector...)
		}
		regrouped, err := computeGroups(cfg, g, ids, vectors, rep.Dims, func(id, name string) json.RawMessage { return productField(items[byID[id]].Product, name) }, rep)
		if err != nil {
			return 0, err
		}
		changed = append(changed, groupChanged(enc.grp, regrouped, ids)...)
		slices.Sort(changed)
		changed = slices.DeleteFunc(slices.Compact(changed), func(id string) bool { return refused[id] })
		enc.grp = regrouped
		if changed == nil {
			changed = []string{} // some(nil) would mean every item
		}
		// The refused products' list documents went in: they go again.
		docs = withDeletes(enc.some(changed), fresh, enc.lists)
		opts.Progress = cfg.Progress("index (lists without refused)", 2*len(changed)+len(fresh))
	}
	return len(items) - len(refused), nil
}

// withDeletes yields ops, then a delete of each of ids in index.
func withDeletes(ops iter.Seq[esindex.Op], ids []string, index string) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		for op := range ops {
			if !yield(op) {
				return
			}
		}
		for _, id := range ids {
			if !yield(esindex.Op{Action: "delete", ID: id, Index: index}) {
				return
			}
		}
	}
}

func addBulk(total *esindex.BulkResult, r esindex.BulkResult) {
	total.Succeeded += r.Succeeded
	total.Failed = append(total.Failed, r.Failed...)
	total.Retried += r.Retried
	total.Rounds += r.Rounds
	total.Requests += r.Requests
}

// writeBulkFile writes the documents as bulk-ready NDJSON (action line,
// document line) for users without Elasticsearch at hand, as they come:
// product documents to documents.ndjson, list documents (ops with an Index)
// to similar.ndjson, for the product and the similar index.
func writeBulkFile(cfg *Config, docs iter.Seq[esindex.Op], rep *Report) error {
	dir := cfg.OutDir
	if dir == "" {
		dir = "essync-out"
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("output folder: %w", err)
	}
	paths := [2]string{filepath.Join(dir, "documents.ndjson"), filepath.Join(dir, "similar.ndjson")}
	return rep.timed("write", func() error {
		var files [2]*os.File
		var ws [2]*bufio.Writer
		for i, p := range paths {
			f, err := os.Create(p + ".tmp")
			if err != nil {
				if i == 1 {
					files[0].Close()
				}
				return err
			}
			files[i], ws[i] = f, bufio.NewWriterSize(f, 1<<20)
		}
		n := 0
		for d := range docs {
			w := ws[0]
			if d.Index != "" {
				w = ws[1]
			} else {
				n++
			}
			meta, _ := json.Marshal(map[string]any{"index": map[string]string{"_id": d.ID}})
			w.Write(meta)
			w.WriteByte('\n')
			w.Write(d.Body)
			w.WriteByte('\n')
		}
		var err error
		for i := range files {
			if ferr := ws[i].Flush(); ferr != nil && err == nil {
				err = fmt.Errorf("write %s: %w", paths[i], ferr)
			}
			if cerr := files[i].Close(); cerr != nil && err == nil {
				err = cerr
			}
		}
		if err != nil {
			return err
		}
		rep.Index.OutFile, rep.Index.SimilarOutFile, rep.Indexed = paths[0], paths[1], n
		for _, p := range paths {
			if err := os.Rename(p+".tmp", p); err != nil {
				return err
			}
		}
		return nil
	})
}
