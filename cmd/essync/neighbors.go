package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/essync/essync/internal/memstat"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

// neighborsCommand computes every product's top-K similar products from a
// vectors.npy + ids.json pair and writes the old pipeline's
// nearest_neighbors.json rows.
func neighborsCommand() *cli.Command {
	return &cli.Command{
		Name:      "neighbors",
		Usage:     "compute every product's most similar products (cosine) from embedded vectors",
		UsageText: "essync neighbors --vectors DIR --out FILE [--k 20] [--exact | --recall 0.99]",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "vectors", Usage: "folder with vectors.npy and ids.json (as written by essync embed; several shard folders comma-separated), or a float32 .npy file (required)"},
			&cli.StringFlag{Name: "ids", Usage: "JSON array of ids in row order (default: ids.json beside the vectors; row numbers if absent)"},
			&cli.StringFlag{Name: "out", Usage: "where to write nearest_neighbors.json (required)"},
			&cli.IntFlag{Name: "k", Value: 20, Usage: "neighbours per product"},
			&cli.BoolFlag{Name: "exact", Usage: "brute force: the true top-K"},
			&cli.Float64Flag{Name: "recall", Value: 0.99, Usage: "recall@K target of the approximate search"},
			&cli.IntFlag{Name: "trees", Usage: "approximate search: number of trees (0 = auto, fixes the effort when set)"},
			&cli.IntFlag{Name: "leaf-size", Usage: "approximate search: most items per leaf (0 = auto: grows with N, about N/256, 32 to 4096)"},
			&cli.IntFlag{Name: "rounds", Usage: "approximate search: refinement rounds (0 = auto, fixes the effort when set)"},
			&cli.Int64Flag{Name: "seed", Value: 1, Usage: "seed of the approximate search (same seed, same result)"},
			&cli.IntFlag{Name: "workers", Usage: "goroutines to use (0 = all cores)"},
		},
		Action: runNeighbors,
	}
}

func runNeighbors(c *cli.Context) error {
	opts := neighbors.Options{
		K: c.Int("k"), Exact: c.Bool("exact"), Recall: c.Float64("recall"),
		Trees: c.Int("trees"), LeafSize: c.Int("leaf-size"), Rounds: c.Int("rounds"),
		Seed: c.Int64("seed"), Workers: c.Int("workers"),
	}
	switch {
	case c.String("vectors") == "" || c.String("out") == "":
		return cli.Exit("--vectors and --out are required", exitUsage)
	case opts.K < 1:
		return cli.Exit(fmt.Sprintf("--k must be at least 1, got %d", opts.K), exitUsage)
	case opts.Recall <= 0 || opts.Recall > 1:
		return cli.Exit(fmt.Sprintf("--recall must be in (0, 1], got %v", opts.Recall), exitUsage)
	case opts.Exact && c.IsSet("recall"):
		return cli.Exit("--exact and --recall exclude each other", exitUsage)
	case opts.Trees < 0 || opts.LeafSize < 0 || opts.Rounds < 0 || opts.Workers < 0:
		return cli.Exit("--trees, --leaf-size, --rounds and --workers must not be negative", exitUsage)
	}
	if (opts.Trees > 0 || opts.Rounds > 0) && !c.IsSet("recall") {
		opts.Recall = 0 // knobs fix the effort
	}
	ids, vecs, dims, closeVectors, err := readVectors(c.String("vectors"), c.String("ids"))
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	defer closeVectors()
	// The vectors dominate the heap; the default GC target (100% of live
	// heap) would let garbage grow as large as them. They hold no pointers,
	// so a tight target costs the collector little.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	start := time.Now()
	ctx, signalled, stop := interruptible(c.Context)
	defer stop()
	g, err := neighbors.BuildContext(ctx, ids, vecs, dims, opts)
	if code := signalled(); code != 0 {
		return cli.Exit(fmt.Sprintf("neighbors: %v; nothing written", context.Cause(ctx)), code)
	}
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	took := time.Since(start)
	if err := neighbors.WriteJSON(c.String("out"), ids, g.Neighbors); err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	mode := "approximate"
	if g.Exact() {
		mode = "exact"
	}
	fmt.Fprintf(c.App.Writer, "neighbors: %d items × %d dims, k=%d, %s, recall@%d %.4f, %.2fs, peak RSS %s → %s\n",
		len(ids), dims, opts.K, mode, opts.K, g.Recall(), took.Seconds(), strconv.FormatUint(memstat.PeakRSS()>>10, 10)+" kB", c.String("out"))
	return nil
}

// readVectors loads the matrix and its ids. path is a folder holding
// vectors.npy + ids.json (several, comma-separated: the shards of essync
// embed --shard), memory-mapped, or an .npy file read onto the heap; without
// ids, row numbers are ids. Call the returned func when done with the matrix.
func readVectors(path, idsPath string) ([]string, []float32, int, func(), error) {
	noop := func() {}
	if dirs := strings.Split(path, ","); idsPath == "" && (len(dirs) > 1 || isDir(path)) && hasIDs(dirs[0]) {
		set, err := vectors.Open(dirs...)
		if err != nil {
			return nil, nil, 0, noop, fmt.Errorf("--vectors: %w", err)
		}
		return set.IDs, set.Matrix, set.Dims, func() { set.Close() }, nil
	}
	ids, vecs, dims, err := readVectorsFile(path, idsPath)
	return ids, vecs, dims, noop, err
}

func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

func hasIDs(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, vectors.IDsFile))
	return err == nil
}

// readVectorsFile reads an .npy file (or a folder's vectors.npy without
// ids.json) onto the heap, with ids from idsPath or row numbers.
func readVectorsFile(path, idsPath string) ([]string, []float32, int, error) {
	npyPath := path
	if st, err := os.Stat(path); err != nil {
		return nil, nil, 0, fmt.Errorf("--vectors: %w", err)
	} else if st.IsDir() {
		npyPath = filepath.Join(path, "vectors.npy")
	}
	vecs, rows, cols, err := npy.ReadFile(npyPath)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read vectors: %w", err)
	}
	if idsPath == "" {
		idsPath = filepath.Join(filepath.Dir(npyPath), "ids.json")
		if _, err := os.Stat(idsPath); errors.Is(err, fs.ErrNotExist) {
			slog.Info("no ids.json beside the vectors: using row numbers as ids", "vectors", npyPath)
			ids := make([]string, rows)
			for i := range ids {
				ids[i] = strconv.Itoa(i)
			}
			return ids, vecs, cols, nil
		}
	}
	raw, err := os.ReadFile(idsPath)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("read ids: %w", err)
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return nil, nil, 0, fmt.Errorf("%s: want a JSON array of id strings: %w", idsPath, err)
	}
	if len(ids) != rows {
		return nil, nil, 0, fmt.Errorf("%s has %d ids but %s has %d rows: they must come from the same embed run", idsPath, len(ids), npyPath, rows)
	}
	return ids, vecs, cols, nil
}
