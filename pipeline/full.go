package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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
