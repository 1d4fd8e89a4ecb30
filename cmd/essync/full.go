package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/pipeline"
	"github.com/urfave/cli/v2"
)

func fullCommand() *cli.Command {
	return &cli.Command{
		Name:  "full",
		Usage: "embed every product, compute top-K similar products, load a new index and swap the alias",
		Description: `Reads the catalog, embeds every image (the vector cache skips unchanged ones),
computes each product's K most similar products, loads the documents into a new
concrete index <alias>-<UTC time> and moves the alias to it in one atomic call.
Readers never see a half-built index; the previous index is kept for rollback.
The new index goes live only if it passes the publish gate: every bulk request
accepted, at most --max-refused refused documents (taken out of every similar
list), at most --max-skipped skipped products, the document count verified.
Without --es-url the documents are written to --out as bulk-ready NDJSON.
With --vectors the vectors come from essync embed's folders instead of the
images (--images is then optional); the index records their model.

` + exitCodesHelp,
		Flags:  append(append(commonSyncFlags(), fullOnlyFlags()...), append(modelFlags(), esFlags()...)...),
		Action: func(c *cli.Context) error { return runSync(c, pipeline.Full) },
	}
}

// exitCodesHelp documents the exit codes of full and incremental.
const exitCodesHelp = `Exit codes: 0 success; 1 failure (nothing was published: the alias is where it
was); 2 usage error; 3 more than --max-skipped products were skipped (nothing
published); 4 another run holds the alias's lease (see essync unlock);
130/143 stopped by SIGINT/SIGTERM (alias untouched, lease released).`

// commonSyncFlags are the flags full and incremental share.
func commonSyncFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.PathFlag{Name: "catalog", Usage: "product catalog: JSON array, NDJSON, or NDJSON of arrays", Required: true},
		&cli.PathFlag{Name: "images", Usage: "folder the catalog's image names are relative to (optional with --vectors: then only for image_sha256)"},
		&cli.StringSliceFlag{Name: "vectors", Usage: "precomputed vectors instead of images: folders of essync embed's output (vectors.npy, ids.json, report.json), comma-separated or repeated"},
		&cli.StringFlag{Name: "id-field", Value: catalog.DefaultIDField, Usage: "catalog field holding the product id"},
		&cli.StringFlag{Name: "image-field", Value: catalog.DefaultImageField, Usage: "catalog field holding the image file name"},
		&cli.StringSliceFlag{Name: "rename", Usage: "rename a catalog field that collides with one essync writes, e.g. --rename model=product_model (repeatable)"},
		&cli.IntFlag{Name: "k", Value: 20, Usage: "similar products per product"},
		&cli.BoolFlag{Name: "exact", Usage: "exact top-K by brute force instead of the approximate forest"},
		&cli.Float64Flag{Name: "recall", Value: 0.99, Usage: "recall@K the approximate search must reach"},
		&cli.StringFlag{Name: "index", Value: "products", Usage: "alias readers query; concrete indices are <index>-<UTC time>"},
		&cli.IntFlag{Name: "bulk-workers", Value: 2, Usage: "parallel bulk requests"},
		&cli.IntFlag{Name: "bulk-bytes", Value: 4 << 20, Usage: "bulk request size in bytes"},
		&cli.DurationFlag{Name: "give-up", Value: 5 * time.Minute, Usage: "give up the bulk load when no document has been written for this long: a stalled cluster, endless 429s, requests never answered (the alias stays put); a healthy load may take hours"},
		&cli.StringFlag{Name: "max-refused", Value: "0", Usage: "documents Elasticsearch may refuse (count, or percentage like 0.5%) before the run fails"},
		&cli.DurationFlag{Name: "wait-lock", Usage: "wait this long for another run's lease on the alias (0: exit 4 at once)"},
		&cli.PathFlag{Name: "report", Usage: "run report JSON (default: report.json in --out, or essync-report.json)"},
		&cli.IntFlag{Name: "max-skipped", Value: -1, Usage: "exit 3, publishing nothing, if more products than this are skipped (-1: no limit)"},
		&cli.PathFlag{Name: "state-dir", Usage: "folder of the local state snapshots (one per alias) that spare incremental runs reading the index back (default: state/ beside the vector cache; none with --no-cache)", EnvVars: []string{"ESSYNC_STATE_DIR"}},
	}, groupFlags()...)
}

// fullOnlyFlags shape a new index; incremental updates the live one and
// refuses them.
func fullOnlyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "keep", Value: 1, Usage: "previous complete indices to keep for rollback"},
		&cli.IntFlag{Name: "replicas", Value: 1, Usage: "replicas of the new index once loaded"},
		&cli.IntFlag{Name: "shards", Value: 1, Usage: "primary shards of a new index"},
		&cli.StringFlag{Name: "index-options", Value: "hnsw", Usage: "dense_vector index_options type: hnsw, int8_hnsw, int4_hnsw, flat, int8_flat, …"},
		&cli.BoolFlag{Name: "keep-failed", Usage: "keep an index that failed the publish gate, for inspection (default: delete it)"},
		&cli.PathFlag{Name: "out", Value: "essync-out", Usage: "without --es-url: folder for documents.ndjson"},
		&cli.PathFlag{Name: "neighbors-json", Usage: "also write the old pipeline's nearest_neighbors.json here"},
		&cli.StringFlag{Name: "neighbors", Value: pipeline.NeighborsForest, Usage: "where the top-K lists come from: forest (essync's, on this machine) or es (Elasticsearch's kNN on the loaded index, before the swap; for catalogs whose vectors do not fit this machine)"},
	}
}

// runSync runs a pipeline job with the flags, writes its report and maps the
// outcome to an exit code.
func runSync(c *cli.Context, job func(context.Context, pipeline.Config) (*pipeline.Report, error)) error {
	cfg, err := syncConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	ctx, signalled, stop := interruptible(c.Context)
	defer stop()
	rep, runErr := job(ctx, cfg)
	if code := signalled(); code != 0 && runErr != nil {
		runErr = fmt.Errorf("%v; the alias was left as it was: %w", context.Cause(ctx), runErr)
	}
	reportPath := c.Path("report")
	if reportPath == "" {
		reportPath = "essync-report.json"
		if cfg.ES == nil {
			reportPath = filepath.Join(cfg.OutDir, "report.json")
		}
	}
	if rep != nil {
		if runErr != nil {
			rep.Error = runErr.Error()
		}
		if err := rep.WriteFile(reportPath); err != nil {
			slog.Error("could not write the run report", "path", reportPath, "err", err)
		} else {
			slog.Info("run report written", "path", reportPath, "products", rep.Products, "indexed", rep.Indexed,
				"skipped", len(rep.Skipped), "recall", rep.Neighbors.Recall, "live", rep.Index.Live)
		}
	}
	switch {
	case runErr == nil:
		return nil
	case signalled() != 0:
		return cli.Exit(runErr.Error(), signalled())
	case errors.Is(runErr, esindex.ErrLeaseHeld):
		return cli.Exit(runErr.Error(), exitLeaseHeld)
	case errors.Is(runErr, pipeline.ErrUsage):
		return cli.Exit(runErr.Error(), exitUsage)
	case errors.Is(runErr, pipeline.ErrTooManySkipped):
		return cli.Exit(runErr.Error(), exitTooManySkip)
	default:
		return cli.Exit(runErr.Error(), exitFailure)
	}
}

func syncConfig(c *cli.Context) (pipeline.Config, error) {
	if c.Int("k") < 1 {
		return pipeline.Config{}, fmt.Errorf("--k must be at least 1")
	}
	if r := c.Float64("recall"); r <= 0 || r > 1 {
		return pipeline.Config{}, fmt.Errorf("--recall must be in (0, 1]")
	}
	maxRefused, err := pipeline.ParseLimit(c.String("max-refused"))
	if err != nil {
		return pipeline.Config{}, fmt.Errorf("--max-refused: %w", err)
	}
	renames := map[string]string{}
	for _, r := range c.StringSlice("rename") {
		old, nu, ok := strings.Cut(r, "=")
		if old, nu = strings.TrimSpace(old), strings.TrimSpace(nu); !ok || old == "" || nu == "" {
			return pipeline.Config{}, fmt.Errorf("--rename %q: want old=new, e.g. --rename model=product_model", r)
		}
		renames[old] = nu
	}
	embedOpts, err := embedOptions(c)
	if err != nil {
		return pipeline.Config{}, err
	}
	groupOpts, err := syncGroupOptions(c)
	if err != nil {
		return pipeline.Config{}, err
	}
	stateDir := c.Path("state-dir")
	if stateDir == "" && embedOpts.CachePath != "" {
		stateDir = filepath.Join(filepath.Dir(embedOpts.CachePath), "state") // beside the vector cache
	}
	vectorDirs := c.StringSlice("vectors")
	if len(vectorDirs) == 0 && c.Path("images") == "" {
		return pipeline.Config{}, fmt.Errorf("--images is required (the folder the catalog's image names are relative to), unless --vectors gives precomputed vectors")
	}
	return pipeline.Config{
		CatalogPath: c.Path("catalog"),
		Catalog:     catalog.Options{IDField: c.String("id-field"), ImageField: c.String("image-field"), ImagesDir: c.Path("images")},
		Renames:     renames,
		Vectors:     vectorDirs,
		ModelCard:   c.Path("model"),
		Embed:       embedOpts,
		K:           c.Int("k"), Exact: c.Bool("exact"), Recall: c.Float64("recall"), Groups: groupOpts,
		ES: esConfig(c), Alias: c.String("index"), Keep: c.Int("keep"), Replicas: c.Int("replicas"), Shards: c.Int("shards"),
		IndexOptions: c.String("index-options"), Neighbors: c.String("neighbors"),
		Bulk:     esindex.BulkOptions{Workers: c.Int("bulk-workers"), FlushBytes: c.Int("bulk-bytes"), GiveUpAfter: c.Duration("give-up")},
		StateDir: stateDir,
		OutDir:   c.Path("out"), NeighborsJSON: c.Path("neighbors-json"), MaxSkipped: c.Int("max-skipped"),
		MaxRefused: maxRefused, KeepFailed: c.Bool("keep-failed"), WaitLock: c.Duration("wait-lock"),
		Command:  "essync " + c.Command.Name,
		Progress: newProgress(),
	}, nil
}
