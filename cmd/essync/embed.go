package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"syscall"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/vectors"
	"github.com/urfave/cli/v2"
)

func embedCommand() *cli.Command {
	return &cli.Command{
		Name:  "embed",
		Usage: "embed product images into vectors.npy + ids.json + report.json",
		Description: `Reads the catalog, embeds each product's image with the model (default: the shipped
EfficientNet-Lite0) and writes to --out:
  vectors.npy  float32 N×D, C order, one L2-normalised row per embedded product
  ids.json     the product ids, in row order
  report.json  the model, counts, and every skipped product with its reason
Without --catalog every image file in --images is embedded, with its file name as id.
--shard i/n embeds only the products whose id hashes (FNV-1a) to shard i of n, the
same split on every machine; combine the shard folders with essync embed merge, or
give them all to --vectors. The vector cache (keyed by model and image content) makes re-runs embed only new or
changed images.

Exit codes: 0 success, 1 failure, 2 usage error, 3 finished but more than
--max-skipped products were skipped.`,
		Flags: append([]cli.Flag{
			&cli.PathFlag{Name: "catalog", Usage: "product catalog (JSON array, NDJSON, or NDJSON of arrays); omit to embed every image in --images"},
			&cli.PathFlag{Name: "images", Usage: "folder of the images (required)"},
			&cli.PathFlag{Name: "out", Usage: "output folder, created if needed (required)"},
			&cli.StringFlag{Name: "id-field", Value: catalog.DefaultIDField, Usage: "catalog field holding the product id"},
			&cli.StringFlag{Name: "image-field", Value: catalog.DefaultImageField, Usage: "catalog field holding the image file name"},
			&cli.IntFlag{Name: "max-skipped", Value: -1, Usage: "exit 3 if more products than this are skipped (-1: no limit)"},
			&cli.StringFlag{Name: "shard", Usage: "embed only shard i of n of the catalog (i/n, 1 ≤ i ≤ n), split by a stable hash of the product id"},
		}, modelFlags()...),
		Action:      runEmbed,
		Subcommands: []*cli.Command{embedMergeCommand()},
	}
}

// embedSkip is one product left out of vectors.npy, in report.json.
type embedSkip struct {
	Row    int    `json:"row,omitempty"`
	Line   int    `json:"line,omitempty"`
	ID     string `json:"id,omitempty"`
	Image  string `json:"image,omitempty"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
}

// embedReport is report.json of essync embed.
type embedReport struct {
	Model           string      `json:"model"`
	Dims            int         `json:"dims"`
	Shard           string      `json:"shard,omitempty"` // i/n when only that shard was embedded
	Products        int         `json:"products"`
	Embedded        int         `json:"embedded"`
	FromCache       int         `json:"from_cache"`
	Skipped         []embedSkip `json:"skipped"`
	Seconds         float64     `json:"seconds"`
	ImagesPerSecond float64     `json:"images_per_second"`
}

func runEmbed(c *cli.Context) error {
	start := time.Now()
	imagesDir, outDir := c.Path("images"), c.Path("out")
	if imagesDir == "" || outDir == "" {
		return cli.Exit("--images and --out are required (see essync embed --help)", exitUsage)
	}
	if st, err := os.Stat(imagesDir); err != nil || !st.IsDir() {
		return cli.Exit(fmt.Sprintf("--images %s is not a folder", imagesDir), exitUsage)
	}
	opts, err := embedOptions(c)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	rep := embedReport{Skipped: []embedSkip{}}
	inShard := func(string) bool { return true }
	if spec := c.String("shard"); spec != "" {
		shard, err := vectors.ParseShard(spec)
		if err != nil {
			return cli.Exit("--shard: "+err.Error(), exitUsage)
		}
		rep.Shard = shard.String()
		// A skipped row without an id is reported by shard 1 only, so the
		// shards' reports together name every skipped row once.
		inShard = func(id string) bool { return shard.Has(id) || (id == "" && shard.Index == 1) }
	}
	var inputs []embed.Input
	var rows []embedSkip // row/line/image of each input, for skip entries
	if path := c.Path("catalog"); path != "" {
		products, skipped, err := catalog.Read(path, catalog.Options{
			IDField: c.String("id-field"), ImageField: c.String("image-field"), ImagesDir: imagesDir,
		})
		if err != nil {
			return cli.Exit(err.Error(), exitFailure)
		}
		for _, s := range skipped {
			if !inShard(s.ID) {
				continue
			}
			rep.Skipped = append(rep.Skipped, embedSkip{Row: s.Row, Line: s.Line, ID: s.ID, Image: s.ImageName, Kind: string(s.Kind), Reason: s.Reason})
		}
		inCatalog := len(products) + len(skipped)
		for _, p := range products {
			if !inShard(p.ID) {
				continue
			}
			inputs = append(inputs, embed.Input{ID: p.ID, Path: p.ImagePath})
			rows = append(rows, embedSkip{Row: p.Row, Line: p.Line, ID: p.ID, Image: p.ImageName})
		}
		rep.Products = len(inputs) + len(rep.Skipped)
		if rep.Shard != "" {
			slog.Info("shard", "shard", rep.Shard, "products", rep.Products, "catalog", inCatalog)
		}
	} else {
		entries, err := os.ReadDir(imagesDir)
		if err != nil {
			return cli.Exit(fmt.Sprintf("--images: %v", err), exitFailure)
		}
		for _, ent := range entries {
			if ent.Type().IsRegular() && ent.Name()[0] != '.' && inShard(ent.Name()) {
				inputs = append(inputs, embed.Input{ID: ent.Name(), Path: filepath.Join(imagesDir, ent.Name())})
				rows = append(rows, embedSkip{ID: ent.Name(), Image: ent.Name()})
			}
		}
		rep.Products = len(inputs)
	}

	card, err := embed.LoadCardOrDefault(c.Path("model"))
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	e, err := embed.New(card, opts)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	defer e.Close()
	rep.Model, rep.Dims = e.Fingerprint(), e.Dims()
	slog.Info("embedding", "images", len(inputs), "model", rep.Model, "batch", e.Options().BatchSize,
		"threads", e.Options().IntraOpThreads, "cache", e.Options().CachePath)

	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	ids := make([]string, 0, len(inputs))
	vectors := make([]float32, 0, len(inputs)*e.Dims())
	progress := newProgress()("embed", len(inputs))
	err = e.Stream(ctx, inputs, func(i int, r embed.Result) error {
		progress(i + 1)
		if r.Err != nil {
			s := rows[i]
			s.Kind, s.Reason = "image", r.Err.Error()
			if !errors.Is(r.Err, embed.ErrImage) {
				s.Kind = "embedding"
			}
			rep.Skipped = append(rep.Skipped, s)
			return nil
		}
		ids = append(ids, r.ID)
		vectors = append(vectors, r.Vector...)
		if r.Cached {
			rep.FromCache++
		}
		return nil
	})
	if err != nil {
		return cli.Exit(fmt.Sprintf("embed: %v (nothing written)", err), exitFailure)
	}
	rep.Embedded = len(ids)
	rep.Seconds = time.Since(start).Seconds()
	rep.ImagesPerSecond = float64(len(inputs)) / max(rep.Seconds, 1e-9)
	sort.SliceStable(rep.Skipped, func(a, b int) bool { return rep.Skipped[a].Row < rep.Skipped[b].Row })
	if err := writeEmbedOutputs(outDir, ids, vectors, e.Dims(), &rep); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	slog.Info("embed done", "out", outDir, "embedded", rep.Embedded, "from_cache", rep.FromCache,
		"skipped", len(rep.Skipped), "seconds", fmt.Sprintf("%.1f", rep.Seconds))
	if limit := c.Int("max-skipped"); limit >= 0 && len(rep.Skipped) > limit {
		return cli.Exit(fmt.Sprintf("%d products skipped, more than --max-skipped %d; see %s", len(rep.Skipped), limit,
			filepath.Join(outDir, "report.json")), exitTooManySkip)
	}
	return nil
}

// writeEmbedOutputs writes vectors.npy (with its digests sidecar, through
// vectors.Writer), ids.json and report.json into dir, each through a
// temporary file and a rename, so a crash never leaves a half-written file
// behind.
func writeEmbedOutputs(dir string, ids []string, matrix []float32, dims int, rep *embedReport) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	place := func(name string, write func(tmp string) error) error {
		final := filepath.Join(dir, name)
		tmp := filepath.Join(dir, "."+name+".tmp")
		if err := write(tmp); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", final, err)
		}
		if err := os.Rename(tmp, final); err != nil {
			os.Remove(tmp)
			return fmt.Errorf("write %s: %w", final, err)
		}
		return nil
	}
	w, err := vectors.Create(dir, len(ids), dims)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	for i := range ids {
		if err := w.Add(matrix[i*dims : (i+1)*dims]); err != nil {
			w.Abort()
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    any
	}{{"ids.json", ids}, {"report.json", rep}} {
		data, err := json.MarshalIndent(f.v, "", "  ")
		if err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
		if err := place(f.name, func(tmp string) error { return os.WriteFile(tmp, append(data, '\n'), 0o644) }); err != nil {
			return err
		}
	}
	return nil
}

// embedMergeCommand combines the folders of several essync embed --shard runs.
func embedMergeCommand() *cli.Command {
	return &cli.Command{
		Name:      "merge",
		Usage:     "combine the output folders of essync embed --shard runs into one",
		UsageText: "essync embed merge --out DIR SHARD_DIR...",
		Description: `Writes vectors.npy, ids.json and report.json (model and dims) into --out, rows in
the order of the folders given. Fails when the folders were made with different models
or dims, or share a product id. (full and incremental can also take the shard folders
directly: --vectors DIR1,DIR2,….)`,
		Flags: []cli.Flag{&cli.PathFlag{Name: "out", Usage: "output folder, created if needed (required)"}},
		Action: func(c *cli.Context) error {
			if c.Path("out") == "" || c.NArg() == 0 {
				return cli.Exit("essync embed merge --out DIR SHARD_DIR...: --out and at least one folder are required", exitUsage)
			}
			if err := vectors.Merge(c.Path("out"), c.Args().Slice()...); err != nil {
				return cli.Exit(err.Error(), exitFailure)
			}
			fmt.Fprintf(c.App.Writer, "merged %d folders into %s\n", c.NArg(), c.Path("out"))
			return nil
		},
	}
}
