package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
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
Without --es-url the documents are written to --out as bulk-ready NDJSON.

Exit codes: 0 success, 1 failure, 2 usage error, 3 finished but more than
--max-skipped products were skipped.`,
		Flags:  syncFlags(),
		Action: func(c *cli.Context) error { return runSync(c, pipeline.Full) },
	}
}

// syncFlags are the flags of full and incremental.
func syncFlags() []cli.Flag {
	flags := []cli.Flag{
		&cli.PathFlag{Name: "catalog", Usage: "product catalog: JSON array, NDJSON, or NDJSON of arrays", Required: true},
		&cli.PathFlag{Name: "images", Usage: "folder the catalog's image names are relative to", Required: true},
		&cli.StringFlag{Name: "id-field", Value: catalog.DefaultIDField, Usage: "catalog field holding the product id"},
		&cli.StringFlag{Name: "image-field", Value: catalog.DefaultImageField, Usage: "catalog field holding the image file name"},
		&cli.IntFlag{Name: "k", Value: 20, Usage: "similar products per product"},
		&cli.BoolFlag{Name: "exact", Usage: "exact top-K by brute force instead of the approximate forest"},
		&cli.Float64Flag{Name: "recall", Value: 0.99, Usage: "recall@K the approximate search must reach"},
		&cli.StringFlag{Name: "index", Value: "products", Usage: "alias readers query; concrete indices are <index>-<UTC time>"},
		&cli.IntFlag{Name: "keep", Value: 1, Usage: "previous complete indices to keep for rollback"},
		&cli.IntFlag{Name: "replicas", Value: 1, Usage: "replicas of the new index once loaded"},
		&cli.IntFlag{Name: "shards", Value: 1, Usage: "primary shards of a new index"},
		&cli.StringFlag{Name: "index-options", Value: "hnsw", Usage: "dense_vector index_options type: hnsw, int8_hnsw, int4_hnsw, flat, int8_flat, …"},
		&cli.IntFlag{Name: "bulk-workers", Value: 2, Usage: "parallel bulk requests"},
		&cli.IntFlag{Name: "bulk-bytes", Value: 4 << 20, Usage: "bulk request size in bytes"},
		&cli.DurationFlag{Name: "give-up", Value: 5 * time.Minute, Usage: "stop retrying failed documents after this long (the alias stays put)"},
		&cli.PathFlag{Name: "out", Value: "essync-out", Usage: "without --es-url: folder for documents.ndjson"},
		&cli.PathFlag{Name: "report", Usage: "run report JSON (default: report.json in --out, or essync-report.json)"},
		&cli.PathFlag{Name: "neighbors-json", Usage: "also write the old pipeline's nearest_neighbors.json here"},
		&cli.IntFlag{Name: "max-skipped", Value: -1, Usage: "exit 3 if more products than this are skipped (-1: no limit)"},
	}
	flags = append(flags, modelFlags()...)
	return append(flags, esFlags()...)
}

// runSync runs a pipeline job with the flags, writes its report and maps the
// outcome to an exit code.
func runSync(c *cli.Context, job func(context.Context, pipeline.Config) (*pipeline.Report, error)) error {
	cfg, err := syncConfig(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, runErr := job(ctx, cfg)
	reportPath := c.Path("report")
	if reportPath == "" {
		reportPath = "essync-report.json"
		if cfg.ES == nil {
			reportPath = filepath.Join(cfg.OutDir, "report.json")
		}
	}
	if rep != nil {
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
	embedOpts, err := embedOptions(c)
	if err != nil {
		return pipeline.Config{}, err
	}
	return pipeline.Config{
		CatalogPath: c.Path("catalog"),
		Catalog:     catalog.Options{IDField: c.String("id-field"), ImageField: c.String("image-field"), ImagesDir: c.Path("images")},
		ModelCard:   c.Path("model"),
		Embed:       embedOpts,
		K:           c.Int("k"), Exact: c.Bool("exact"), Recall: c.Float64("recall"),
		ES: esConfig(c), Alias: c.String("index"), Keep: c.Int("keep"), Replicas: c.Int("replicas"), Shards: c.Int("shards"),
		IndexOptions: c.String("index-options"),
		Bulk:         esindex.BulkOptions{Workers: c.Int("bulk-workers"), FlushBytes: c.Int("bulk-bytes"), GiveUpAfter: c.Duration("give-up")},
		OutDir:       c.Path("out"), NeighborsJSON: c.Path("neighbors-json"), MaxSkipped: c.Int("max-skipped"),
		Progress: newProgress(),
	}, nil
}
