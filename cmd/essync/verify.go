package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/verify"
	"github.com/urfave/cli/v2"
)

// exitFindings is verify's exit code when the audit found something (the same
// number as exitTooManySkip: "ran, but the outcome needs a look").
const exitFindings = 3

func verifyCommand() *cli.Command {
	flags := append(catalogFlags(),
		&cli.StringFlag{Name: "index", Value: "products", Usage: "alias readers query"},
		&cli.IntFlag{Name: "k", Value: verify.DefaultK, Usage: "list length expected when the index does not record its k"},
		&cli.BoolFlag{Name: "hash", Usage: "hash every image and compare with the stored image_sha256 (reads every image)"},
		&cli.IntFlag{Name: "sample", Value: 1000, Usage: "products whose lists are checked against the exact top-K (0: none)"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the sample"},
		&cli.Float64Flag{Name: "min-recall", Value: 0.95, Usage: "a sample recall@K below this is a finding"},
		&cli.BoolFlag{Name: "json", Usage: "write the report as JSON instead of a table"},
	)
	flags = append(flags, modelFlags()...)
	flags = append(flags, esFlags()...)
	return &cli.Command{
		Name:  "verify",
		Usage: "audit the live index against the catalog: coverage, vectors, lists, groups, state, list recall",
		Description: `Reads every document behind the alias through a point in time (one consistent
snapshot) and the catalog, and reports every finding with the product ids:
products missing from the index or not in the catalog; with --hash, images
changed since the last sync; documents without a vector, with the wrong
dimensions, a length far from 1, or another model than the index's; lists that
name the product itself, a missing product or one twice, are not sorted, have
scores outside [-1, 1], are shorter than min(K, N-1) or longer than K, or whose
similar and similar_pi disagree; products without a list document in
<index>-similar, list documents without a product, and an <index>-similar
alias that does not name the live index's pair; offer groups whose members
disagree on group_size (read from the list documents) or whose size is not
their count, and list documents whose group_id is not their product's; the index's state (alias, complete and incremental_pending marks, a
held or stale lease); and recall@K of the stored lists against the exact top-K computed from
the stored vectors on --sample random products.

--model is optional: when given, the index's model must be that card's. The
other model flags (--ort-lib, --batch, …) are accepted and unused, so the model
settings of a full run can be passed as they are.

Exit codes: 0 no findings, 3 findings (listed), 1 failure to run, 2 usage error.`,
		Flags:  flags,
		Action: runVerify,
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return cli.Exit(err.Error(), exitUsage)
		},
	}
}

func runVerify(c *cli.Context) error {
	es := esConfig(c)
	if es == nil {
		return cli.Exit("verify needs Elasticsearch: pass --es-url (or set ELASTICSEARCH_URL)", exitUsage)
	}
	if c.Int("sample") < 0 || c.Int("k") < 1 {
		return cli.Exit("--sample must be at least 0 and --k at least 1", exitUsage)
	}
	if r := c.Float64("min-recall"); r < 0 || r > 1 {
		return cli.Exit("--min-recall must be in [0, 1]", exitUsage)
	}
	opts := verify.Options{
		Alias:       c.String("index"),
		CatalogPath: c.Path("catalog"),
		Catalog:     catalog.Options{IDField: c.String("id-field"), ImageField: c.String("image-field"), ImagesDir: c.Path("images")},
		K:           c.Int("k"), Hash: c.Bool("hash"),
		Sample: c.Int("sample"), Seed: c.Uint64("seed"), MinRecall: c.Float64("min-recall"),
	}
	if path := c.Path("model"); path != "" {
		card, err := embed.LoadCard(path)
		if err != nil {
			return cli.Exit(err.Error(), exitUsage)
		}
		opts.Model = card.Fingerprint()
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := auditIndex(ctx, *es, opts)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if c.Bool("json") {
		err = verify.WriteJSON(c.App.Writer, rep)
	} else {
		err = verify.WriteTable(c.App.Writer, rep)
	}
	if err != nil {
		return cli.Exit(fmt.Sprintf("write the report: %v", err), exitFailure)
	}
	if !rep.Clean() {
		return cli.Exit("", exitFindings)
	}
	return nil
}

func auditIndex(ctx context.Context, cfg esindex.Config, opts verify.Options) (*verify.Report, error) {
	es, err := esindex.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := esindex.Ping(ctx, es); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg, err)
	}
	return verify.Run(ctx, es, opts)
}
