package pipeline

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
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
	if err := mappings.CheckAlias(cfg.Alias); err != nil {
		return rep, fmt.Errorf("%w: %w", err, ErrUsage)
	}

	var es *elasticsearch.Client
	if cfg.ES != nil {
		var err error
		if es, err = connect(ctx, *cfg.ES); err != nil {
			return rep, err
		}
		// The lease comes before any work, so a second run on the alias
		// waits or refuses before it embeds anything.
		var release func()
		if ctx, release, err = takeLease(ctx, &cfg, es, "essync full"); err != nil {
			return rep, err
		}
		defer release()
	}
	switch cfg.Neighbors {
	case "", NeighborsForest:
	case NeighborsES:
		if es == nil {
			return rep, fmt.Errorf("--neighbors es computes the lists with the cluster's own kNN and needs --es-url: %w", ErrUsage)
		}
	default:
		return rep, fmt.Errorf("--neighbors %q: want %s or %s: %w", cfg.Neighbors, NeighborsForest, NeighborsES, ErrUsage)
	}
	items, ids, vectors, closeVectors, err := fullItems(ctx, &cfg, rep)
	if err != nil {
		return rep, err
	}
	defer closeVectors()
	if cfg.Neighbors == NeighborsES {
		return rep, publishKNN(ctx, &cfg, es, items, ids, vectors, cfg.Now().UTC().Format(time.RFC3339), rep)
	}
	graph, err := buildGraph(ctx, &cfg, ids, vectors, rep.Dims, rep)
	if err != nil {
		return rep, err
	}
	grp, err := computeGroups(&cfg, graph, ids, vectors, rep.Dims, fieldsOf(items), rep)
	if err != nil {
		return rep, err
	}
	syncedAt := cfg.Now().UTC().Format(time.RFC3339)
	if es != nil {
		return rep, publish(ctx, &cfg, es, items, graph, grp, syncedAt, rep)
	}
	if err := writeNeighborsJSON(&cfg, graph); err != nil {
		return rep, err
	}
	if err := checkSkipped(&cfg, rep); err != nil {
		return rep, err
	}
	docs := newEncoder(items, graph, grp, rep.Model, syncedAt, mappings.SimilarAlias(cfg.Alias))
	docs.mapped = cfg.mapped
	err = writeBulkFile(&cfg, docs.all(), rep)
	docs.record(rep)
	if err == nil {
		err = docs.err
	}
	return rep, err
}

// fullItems reads the catalog and gives every product its vector — embedded
// from its image, or taken from --vectors — with one contiguous matrix of
// them (ids[i] owns row i). close releases the embedder or the mapping.
func fullItems(ctx context.Context, cfg *Config, rep *Report) (items []item, ids []string, matrix []float32, close func(), err error) {
	products, err := readCatalogRenamed(cfg, rep)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if len(cfg.Vectors) > 0 {
		set, err := openVectors(cfg, rep)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		items, ids, matrix, copied := vectorItems(set, products, rep)
		if copied {
			set.Close()
		} else {
			cfg.mapped = matrix
		}
		return items, ids, matrix, func() { set.Close() }, nil
	}
	embedder, err := openEmbedder(cfg, rep)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	stats, _ := statFiles(products) // before embedding: a later change shows in the stat
	if items, err = embedProducts(ctx, cfg, embedder, products, rep); err != nil {
		embedder.Close()
		return nil, nil, nil, nil, err
	}
	statOf := make(map[string]fileStat, len(products))
	for i, p := range products {
		statOf[p.ID] = stats[i]
	}
	for i := range items {
		items[i].Size, items[i].MTime = statOf[items[i].ID].Size, statOf[items[i].ID].MTime
	}
	ids, matrix = matrixOf(items, rep.Dims)
	return items, ids, matrix, func() { embedder.Close() }, nil
}

// takeLease takes the alias's lease (waiting up to cfg.WaitLock) and returns
// a context that is cancelled if the lease is lost, and the release function.
func takeLease(ctx context.Context, cfg *Config, es *elasticsearch.Client, command string) (context.Context, func(), error) {
	if cfg.Command != "" {
		command = cfg.Command
	}
	// The lease has its own client, so its renewals never wait for a
	// connection behind the run's bulk requests.
	if cfg.ES != nil {
		own, err := esindex.NewClient(*cfg.ES)
		if err != nil {
			return ctx, nil, err
		}
		es = own
	}
	lease, err := esindex.AcquireLease(ctx, es, cfg.Alias, esindex.LeaseOptions{Command: command, TTL: cfg.LeaseTTL, Wait: cfg.WaitLock})
	if err != nil {
		return ctx, nil, err
	}
	cfg.lease = lease
	slog.Info("lease taken", "alias", cfg.Alias, "run", lease.Info().RunID)
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(lease.Context(), func() { cancel(context.Cause(lease.Context())) })
	return ctx, func() {
		stop()
		if err := lease.Release(ctx); err != nil {
			slog.Warn("could not release the lease; it expires by itself", "alias", cfg.Alias, "err", err)
		}
		cancel(nil)
	}, nil
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

func writeNeighborsJSON(cfg *Config, g *neighbors.Graph) error {
	if cfg.NeighborsJSON == "" {
		return nil
	}
	if err := neighbors.WriteJSON(cfg.NeighborsJSON, g.IDs(), g.Neighbors); err != nil {
		return fmt.Errorf("nearest neighbors json: %w", err)
	}
	return nil
}

// publish loads the documents into a new concrete product index and the
// list documents into its new similar index, and puts both live together
// only if they pass the gate: every request accepted, refused documents
// within --max-refused (and taken out of every list), skipped products
// within --max-skipped, both counts verified, the lease still ours.
// Otherwise the aliases and the previous indices stay as they are and the
// half-built pair is deleted (kept with --keep-failed).
func publish(ctx context.Context, cfg *Config, es *elasticsearch.Client, items []item, g *neighbors.Graph, grp *groups.Result, syncedAt string, rep *Report) error {
	return rep.timed("index", func() error {
		index, lists, fail, err := createRunIndex(ctx, cfg, es, rep)
		if err != nil {
			return err
		}
		enc := newEncoder(items, g, grp, rep.Model, syncedAt, lists)
		enc.mapped = cfg.mapped
		kept, err := load(ctx, cfg, es, index, enc, rep)
		if err != nil {
			return fail(err)
		}
		if err := writeNeighborsJSON(cfg, g); err != nil {
			return fail(err)
		}
		if err := checkSkipped(cfg, rep); err != nil {
			return fail(err)
		}
		return goLive(ctx, cfg, es, index, lists, kept, fail, rep, func() { writeFullSnapshot(cfg, index, items, g, enc.grp, rep) })
	})
}

// goLive is the end of every full run: it finishes the loads of the
// product index and its similar index (both must hold kept documents),
// checks the lease, swaps both aliases in one call, writes the state
// snapshot (snapshot) and prunes old pairs.
func goLive(ctx context.Context, cfg *Config, es *elasticsearch.Client, index, lists string, kept int, fail func(error) error, rep *Report, snapshot func()) error {
	for _, name := range []string{index, lists} {
		if err := esindex.FinishLoad(ctx, es, name, cfg.Replicas, kept); err != nil {
			return fail(fmt.Errorf("%w: %w", ErrGate, err))
		}
	}
	if lease := leaseCheck(ctx, cfg); lease != nil {
		return fail(lease)
	}
	previous, err := esindex.SwapPair(ctx, es, cfg.Alias, index)
	if err != nil {
		return fail(err)
	}
	rep.Index.Live, rep.Index.Similar, rep.Index.Previous, rep.Indexed = index, lists, previous, kept
	slog.Info("aliases swapped", "alias", cfg.Alias, "index", index, "similar", lists, "previous", previous, "documents", kept)
	snapshot()
	pruned, err := esindex.Prune(ctx, es, cfg.Alias, cfg.Keep)
	rep.Index.Pruned = pruned
	if err != nil {
		slog.Warn("pruning old indices failed; the new index is live", "err", err)
	}
	return nil
}

// leaseCheck returns the cause when the run's lease was lost. Right before
// the alias moves it also renews the lease with a write guarded by its
// seq_no and primary term: renewals that timed out while the node was busy
// cannot hide that another run took an expired lease over.
func leaseCheck(ctx context.Context, cfg *Config) error {
	if cause := context.Cause(ctx); errors.Is(cause, esindex.ErrLeaseLost) {
		return cause
	}
	if cfg.lease == nil {
		return nil
	}
	if err := cfg.lease.Check(ctx); err != nil {
		return fmt.Errorf("the lease on %s, checked before the swap: %w", cfg.Alias, err)
	}
	return nil
}

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

// checkSkipped turns "too many skipped products" into ErrTooManySkipped;
// it runs before anything is published.
func checkSkipped(cfg *Config, rep *Report) error {
	if cfg.MaxSkipped >= 0 && len(rep.Skipped) > cfg.MaxSkipped {
		return fmt.Errorf("%w: %d skipped, --max-skipped is %d (see the report)", ErrTooManySkipped, len(rep.Skipped), cfg.MaxSkipped)
	}
	return nil
}

// createRunIndex creates the run's new concrete product index and its
// similar index (same timestamp) and returns fail, which every later error
// goes through: it keeps the half-built pair for inspection (--keep-failed,
// refreshed so it is searchable) or deletes it, and records which in the
// report.
func createRunIndex(ctx context.Context, cfg *Config, es *elasticsearch.Client, rep *Report) (index, lists string, fail func(error) error, err error) {
	opts := mappings.Options{Dims: rep.Dims, IndexOptions: cfg.IndexOptions, Shards: cfg.Shards, Replicas: cfg.Replicas, Model: rep.Model, K: cfg.K}
	body, err := mappings.Render(opts)
	if err != nil {
		return "", "", nil, fmt.Errorf("mapping: %w", err)
	}
	now := cfg.Now()
	index = esindex.NewIndexName(cfg.Alias, now)
	lists = esindex.NewIndexName(mappings.SimilarAlias(cfg.Alias), now)
	listsBody, err := mappings.RenderSimilar(opts, index)
	if err != nil {
		return "", "", nil, fmt.Errorf("mapping: %w", err)
	}
	rep.Index.Alias = cfg.Alias
	// The similar index first: a run killed in between leaves an orphan
	// list index, which Prune recognises, rather than a product index
	// without lists.
	if err := esindex.CreateIndex(ctx, es, lists, listsBody); err != nil {
		return "", "", nil, err
	}
	if err := esindex.CreateIndex(ctx, es, index, body); err != nil {
		esindex.DeleteIndex(context.WithoutCancel(ctx), es, lists)
		return "", "", nil, err
	}
	fail = func(err error) error {
		if cfg.KeepFailed {
			rep.Index.KeptFailed = index
			for _, name := range []string{index, lists} {
				esindex.Refresh(context.WithoutCancel(ctx), es, name) // searchable for inspection; best effort
			}
			slog.Warn("the failed index pair is kept for inspection (--keep-failed); delete it when done", "index", index, "similar", lists)
			return err
		}
		discarded := true
		for _, name := range []string{index, lists} {
			if derr := esindex.DeleteIndex(context.WithoutCancel(ctx), es, name); derr != nil {
				discarded = false
				slog.Warn("could not delete the half-built index; the next run prunes it", "index", name, "err", derr)
			}
		}
		if discarded {
			rep.Index.Discarded = index
		}
		return err
	}
	return index, lists, fail, nil
}
