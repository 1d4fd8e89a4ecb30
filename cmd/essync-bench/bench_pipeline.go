package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/memstat"
	"github.com/essync/essync/internal/progress"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/pipeline"
	"github.com/urfave/cli/v2"
)

// benchDataFlags are the flags of the benchmarks that generate a catalog.
func benchDataFlags(n, size int) []cli.Flag {
	return append([]cli.Flag{
		&cli.IntFlag{Name: "n", Value: n, Usage: "products in the generated catalog"},
		&cli.IntFlag{Name: "size", Value: size, Usage: "width and height of the generated JPEG photos"},
		&cli.IntFlag{Name: "scenes", Usage: "base scenes the photos are variants of (default n/6, so groups of near-duplicates exist)"},
		&cli.Uint64Flag{Name: "seed", Value: 1, Usage: "seed of the generated photos"},
		&cli.PathFlag{Name: "model", Usage: "model card JSON (default: the shipped model)", EnvVars: []string{"ESSYNC_MODEL"}},
		&cli.PathFlag{Name: "ort-lib", Usage: "ONNX Runtime shared library", EnvVars: []string{"ESSYNC_ORT_LIB"}},
		&cli.PathFlag{Name: "dir", Usage: "folder for the generated data (default: a temporary folder, removed afterwards)"},
		&cli.StringFlag{Name: "alias", Usage: "alias the runs write to (default: a new essync-bench-<kind>-<time> name); with --keep-index, a later benchmark can take it up"},
		&cli.StringFlag{Name: "index-options", Value: "hnsw", Usage: "dense_vector index_options type of the loaded index (hnsw, int8_hnsw, bbq_hnsw, …)"},
	}, benchESFlags()...)
}

// benchRun is the shared setup of the full and incremental benchmarks.
type benchRun struct {
	c     *cli.Context
	w     io.Writer
	dir   string
	es    esindex.Config
	alias string
	data  benchdata.Options
}

// newBenchRun connects, picks the data folder and returns a cleanup function
// that removes what the run created (unless asked to keep it).
func newBenchRun(c *cli.Context, kind string) (*benchRun, func(), error) {
	es, cfg, err := benchClient(c)
	if err != nil {
		return nil, nil, err
	}
	r := &benchRun{c: c, w: c.App.Writer, es: cfg, alias: c.String("alias")}
	if r.alias == "" {
		r.alias = benchName(kind)
	}
	scenes := c.Int("scenes")
	if scenes <= 0 {
		scenes = max(c.Int("n")/6, 1)
	}
	r.data = benchdata.Options{Size: c.Int("size"), Scenes: scenes, Seed: c.Uint64("seed")}
	removeDir := false
	if r.dir = c.Path("dir"); r.dir == "" {
		if r.dir, err = os.MkdirTemp("", "essync-bench-"); err != nil {
			return nil, nil, err
		}
		removeDir = true
	}
	cleanup := func() {
		if !c.Bool("keep-index") {
			if err := deleteAlias(context.WithoutCancel(c.Context), es, r.alias); err != nil {
				slog.Warn("bench: could not delete the benchmark's indices", "alias", r.alias, "err", err)
			}
		}
		if removeDir {
			os.RemoveAll(r.dir)
		}
	}
	return r, cleanup, nil
}

// generate renders products first … first+n-1 into the images folder.
func (r *benchRun) generate(first, n int) ([]benchdata.Product, error) {
	start := time.Now()
	products, err := benchdata.Generate(filepath.Join(r.dir, "images"), first, n, r.data)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(r.w, "generated %d %d×%d JPEG photos (%d scenes) in %.1f s (not part of any measurement)\n",
		n, r.data.Size, r.data.Size, r.data.Scenes, time.Since(start).Seconds())
	return products, nil
}

// config is a pipeline run over catalogPath into the benchmark's alias.
func (r *benchRun) config(catalogPath, cachePath string) pipeline.Config {
	return pipeline.Config{
		CatalogPath:  catalogPath,
		Catalog:      catalog.Options{ImagesDir: filepath.Join(r.dir, "images")},
		ModelCard:    r.c.Path("model"),
		Embed:        embed.Options{ORTLib: r.c.Path("ort-lib"), CachePath: cachePath},
		ES:           &r.es,
		Alias:        r.alias,
		IndexOptions: r.c.String("index-options"),
		Keep:         0,
		Replicas:     0,
		MaxSkipped:   0,
		OutDir:       filepath.Join(r.dir, "out"),
		Progress:     progress.New(),
	}
}

// measured is one timed pipeline run.
type measured struct {
	Report *pipeline.Report
	Wall   time.Duration
	Mem    memstat.Peak
}

// run runs job and prints its timings and memory under title.
func (r *benchRun) run(title string, job func(context.Context, pipeline.Config) (*pipeline.Report, error), cfg pipeline.Config) (measured, error) {
	mem := memstat.Start()
	start := time.Now()
	rep, err := job(r.c.Context, cfg)
	m := measured{Report: rep, Wall: time.Since(start), Mem: mem.Stop()}
	if err != nil {
		return m, fmt.Errorf("%s: %w", title, err)
	}
	fmt.Fprintf(r.w, "%s: %.2f s wall, %d products, %d embedded, %d from cache, neighbours exact=%v recall=%.4f\n",
		title, m.Wall.Seconds(), rep.Products, rep.Embedded, rep.FromCache, rep.Neighbors.Exact, rep.Neighbors.Recall)
	printStages(r.w, rep.StageSeconds)
	if c := rep.Changes; c != nil {
		fmt.Fprintf(r.w, "  changes: %d new, %d deleted, %d image changed, %d fields changed, %d lists changed, %d groups changed, %d unchanged → %d written (%d product documents, %d list documents)\n",
			c.New, c.Deleted, c.ImageChanged, c.FieldsChanged, c.ListsChanged, c.GroupsChanged, c.Unchanged, c.Written, c.WrittenProducts, c.WrittenLists)
	}
	reset := ""
	if !m.Mem.RSSReset {
		reset = " (since process start)"
	}
	fmt.Fprintf(r.w, "  memory: peak RSS %s%s (sampled peaks: anonymous %s, mapped file %s), peak Go heap in use %s, Go runtime total %s; load average after: %s\n",
		memstat.MiB(m.Mem.RSS), reset, memstat.MiB(m.Mem.Anon), memstat.MiB(m.Mem.File), memstat.MiB(m.Mem.Heap), memstat.MiB(m.Mem.Sys), loadAverage())
	return m, nil
}

func benchFullCommand() *cli.Command {
	return &cli.Command{
		Name:  "full",
		Usage: "essync full on N generated product photos (or --vectors: synthetic vectors): time per stage, images/s, peak memory",
		Flags: append(benchDataFlags(2000, 800),
			&cli.BoolFlag{Name: "vectors", Usage: "synthetic clustered unit vectors through --vectors instead of photos: peak RSS against the raw vectors"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "with --vectors: vector length"},
			&cli.BoolFlag{Name: "offline", Usage: "with --vectors: write documents.ndjson instead of loading the node"},
		),
		Action: benchAction("full", benchFull),
	}
}

func benchFull(c *cli.Context) error {
	r, cleanup, err := newBenchRun(c, "full")
	if err != nil {
		return err
	}
	defer cleanup()
	if c.Bool("vectors") {
		return benchFullVectors(r)
	}
	products, err := r.generate(0, c.Int("n"))
	if err != nil {
		return err
	}
	catalogPath := filepath.Join(r.dir, "catalog.json")
	if err := benchdata.WriteCatalog(catalogPath, products); err != nil {
		return err
	}
	// A fresh cache: every image is really embedded.
	cfg := r.config(catalogPath, filepath.Join(r.dir, "vectors.bolt"))
	m, err := r.run("essync full", pipeline.Full, cfg)
	if err != nil {
		return err
	}
	embedSec := m.Report.StageSeconds["embed"]
	fmt.Fprintf(r.w, "images/s: %.1f in the embed stage, %.1f end to end (%d images)\n",
		float64(m.Report.Embedded)/embedSec, float64(m.Report.Products)/m.Wall.Seconds(), m.Report.Products)
	return nil
}

func benchIncrementalCommand() *cli.Command {
	return &cli.Command{
		Name:  "incremental",
		Usage: "essync incremental after new and deleted products, against essync full",
		Flags: append(benchDataFlags(20000, 320),
			&cli.Float64Flag{Name: "new", Value: 0.01, Usage: "fraction of new products (with new photos)"},
			&cli.Float64Flag{Name: "deleted", Value: 0.005, Usage: "fraction of products deleted"},
			&cli.BoolFlag{Name: "no-cache-run", Value: true, Usage: "also time the incremental run with the vector cache disabled (costs one more full run)"},
			&cli.BoolFlag{Name: "exact-minimum", Value: true, Usage: "compute the minimum of documents to write from exact top-K lists before and after"},
			&cli.BoolFlag{Name: "vectors", Usage: "synthetic vectors through --vectors instead of photos, with the local state snapshot; takes up a kept --alias and --dir of `full --vectors --keep-index`"},
			&cli.IntFlag{Name: "dims", Value: 1280, Usage: "with --vectors: vector length"},
			&cli.PathFlag{Name: "state-dir", Usage: "with --vectors: state snapshot folder (default: state/ in --dir)"},
			&cli.BoolFlag{Name: "cold", Usage: "with --vectors: drop the vector files' page cache before the measured runs, so their reads come from disk"},
			&cli.DurationFlag{Name: "full-time", Usage: "with --vectors, taking up a kept alias: the full run's wall time, for the ratio"},
			&cli.DurationFlag{Name: "merge-wait", Value: mergeWaitDefault, Usage: "with --vectors: how long to wait for the node's merges after the measured run (for its CPU) before the next run"},
			&cli.DurationFlag{Name: "give-up", Value: time.Hour, Usage: "with --vectors: bound on each run's bulk load with its retries"},
			&cli.IntFlag{Name: "exact-limit", Value: 50000, Usage: "with --vectors: compute the exact minimum of writes only up to this many products (brute force)"},
			&cli.PathFlag{Name: "peak-profile", Usage: "with --vectors: write the Go heap profile (in use, by site) at each run's heap peak to `PREFIX`-<run>.pprof (go tool pprof -sample_index=inuse_space)"},
		),
		Action: benchAction("incremental", benchIncremental),
	}
}

func benchIncremental(c *cli.Context) error {
	if c.Bool("vectors") {
		return benchIncrementalVectors(c)
	}
	n := c.Int("n")
	added, removed := int(math.Round(float64(n)*c.Float64("new"))), int(math.Round(float64(n)*c.Float64("deleted")))
	if n < 2 || added < 0 || removed < 0 || removed >= n {
		return fmt.Errorf("--n, --new and --deleted leave nothing to measure")
	}
	r, cleanup, err := newBenchRun(c, "incr")
	if err != nil {
		return err
	}
	defer cleanup()
	products, err := r.generate(0, n+added)
	if err != nil {
		return err
	}
	gone := map[string]bool{}
	for _, i := range rand.New(rand.NewPCG(c.Uint64("seed"), 5)).Perm(n)[:removed] {
		gone[products[i].ID] = true
	}
	var final []benchdata.Product
	for _, p := range products {
		if !gone[p.ID] {
			final = append(final, p)
		}
	}
	before, after := filepath.Join(r.dir, "before.json"), filepath.Join(r.dir, "after.json")
	if err := benchdata.WriteCatalog(before, products[:n]); err != nil {
		return err
	}
	if err := benchdata.WriteCatalog(after, final); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "catalog: %d products before, %d new, %d deleted, %d after\n", n, added, removed, len(final))
	cache := filepath.Join(r.dir, "vectors.bolt")

	full, err := r.run("full (fresh vector cache)", pipeline.Full, r.config(before, cache))
	if err != nil {
		return err
	}
	inc, err := r.run("incremental (warm vector cache)", pipeline.Incremental, r.config(after, cache))
	if err != nil {
		return err
	}
	again, err := r.run("incremental again", pipeline.Incremental, r.config(after, cache))
	if err != nil {
		return err
	}
	fmt.Fprintf(r.w, "full/incremental wall time: %.1f× (target ≥ 10×); second incremental wrote %d documents (want 0)\n",
		full.Wall.Seconds()/inc.Wall.Seconds(), again.Report.Changes.Written)
	if again.Report.Changes.Written > 0 {
		// Not idempotent: does a third run settle, or do the same lists flip back and forth?
		third, err := r.run("incremental a third time", pipeline.Incremental, r.config(after, cache))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.w, "third incremental wrote %d documents\n", third.Report.Changes.Written)
	}
	if c.Bool("exact-minimum") {
		changed, err := exactListChanges(c.Context, r, products, products[:n], final, cache)
		if err != nil {
			return err
		}
		minimum := added + removed + changed
		fmt.Fprintf(r.w, "documents written: %d; minimum necessary %d (%d new + %d deleted + %d existing products whose exact top-%d changed) → %.2f× the minimum\n",
			inc.Report.Changes.Written, minimum, added, removed, changed, full.Report.Neighbors.K, float64(inc.Report.Changes.Written)/float64(minimum))
	}
	if c.Bool("no-cache-run") {
		warm, err := r.run("full again (warm vector cache, back to the first catalog)", pipeline.Full, r.config(before, cache))
		if err != nil {
			return err
		}
		cold, err := r.run("incremental (vector cache disabled)", pipeline.Incremental, r.config(after, ""))
		if err != nil {
			return err
		}
		fmt.Fprintf(r.w, "without the cache: full (fresh cache) / incremental (no cache) %.1f×; full with a warm cache / incremental (no cache) %.1f×\n",
			full.Wall.Seconds()/cold.Wall.Seconds(), warm.Wall.Seconds()/cold.Wall.Seconds())
	}
	return nil
}

// exactListChanges counts the products present before and after whose exact
// top-K list differs: the lists any incremental run must rewrite. The vectors
// come from the cache the runs filled (every photo is in it by now).
func exactListChanges(ctx context.Context, r *benchRun, all, before, final []benchdata.Product, cache string) (int, error) {
	start := time.Now()
	cfg := r.config("", cache)
	cardPath := cfg.ModelCard
	if cardPath == "" {
		p, err := embed.DefaultCardPath()
		if err != nil {
			return 0, err
		}
		cardPath = p
	}
	card, err := embed.LoadCard(cardPath)
	if err != nil {
		return 0, err
	}
	e, err := embed.New(card, cfg.Embed)
	if err != nil {
		return 0, err
	}
	defer e.Close()
	inputs := make([]embed.Input, len(all))
	for i, p := range all {
		inputs[i] = embed.Input{ID: p.ID, Path: filepath.Join(cfg.Catalog.ImagesDir, p.ImageName)}
	}
	results, err := e.Embed(ctx, inputs, nil)
	if err != nil {
		return 0, err
	}
	vec := map[string][]float32{}
	for _, res := range results {
		if res.Err != nil {
			return 0, fmt.Errorf("vector of %s: %w", res.ID, res.Err)
		}
		vec[res.ID] = res.Vector
	}
	exact := func(ps []benchdata.Product) (*neighbors.Graph, error) {
		ids := make([]string, len(ps))
		var rows []float32
		for i, p := range ps {
			ids[i] = p.ID
			rows = append(rows, vec[p.ID]...)
		}
		return neighbors.BuildContext(ctx, ids, rows, e.Dims(), neighbors.Options{K: 20, Exact: true})
	}
	old, err := exact(before)
	if err != nil {
		return 0, err
	}
	after, err := exact(final)
	if err != nil {
		return 0, err
	}
	isOld := make(map[string]bool, len(before))
	for _, p := range before {
		isOld[p.ID] = true
	}
	changed := 0
	for _, p := range final {
		if !isOld[p.ID] {
			continue // a new product
		}
		b := old.Neighbors(p.ID)
		if !slices.Equal(b, after.Neighbors(p.ID)) {
			changed++
		}
	}
	fmt.Fprintf(r.w, "exact top-20 before and after computed in %.1f s (not part of any measurement)\n", time.Since(start).Seconds())
	return changed, nil
}
