package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/internal/memstat"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/pipeline"
	"github.com/essync/essync/vectors"
)

// benchVectorsModel names the synthetic vectors' model in their report.json.
const benchVectorsModel = "synthetic@bench"

// benchFullVectors is `essync-bench full --vectors`: essync full on N
// synthetic clustered unit vectors (benchdata.Vectors) instead of photos,
// into the node or (--offline) into documents.ndjson, with peak RSS against
// the raw vectors' size (issue 10's bound: 1.5 × raw + 512 MiB).
func benchFullVectors(r *benchRun) error {
	c := r.c
	n, dims := c.Int("n"), c.Int("dims")
	dir := filepath.Join(r.dir, "vectors")
	catalogPath := filepath.Join(r.dir, "catalog.ndjson")
	start := time.Now()
	if err := writeSyntheticVectors(dir, catalogPath, n, dims, max(n/6, 1), c.Uint64("seed")); err != nil {
		return err
	}
	raw := uint64(n) * uint64(dims) * 4
	fmt.Fprintf(r.w, "generated %d synthetic %d-d vectors (%s raw) and their catalog in %.1f s (not part of any measurement)\n",
		n, dims, memstat.MiB(raw), time.Since(start).Seconds())
	cfg := r.config(catalogPath, "")
	cfg.Catalog.ImagesDir = ""
	cfg.Vectors = []string{dir}
	if c.Bool("offline") {
		cfg.ES = nil
	}
	debug.FreeOSMemory() // the generator's garbage is not the run's
	m, err := r.run("essync full --vectors", pipeline.Full, cfg)
	if err != nil {
		return err
	}
	bound := raw*3/2 + 512<<20
	fmt.Fprintf(r.w, "peak RSS %s = %.2f × raw vectors (%s); bound 1.5 × raw + 512 MiB = %s: %s\n",
		memstat.MiB(m.Mem.RSS), float64(m.Mem.RSS)/float64(raw), memstat.MiB(raw), memstat.MiB(bound), map[bool]string{true: "within", false: "EXCEEDED"}[m.Mem.RSS <= bound])
	if g := m.Report.Groups; g != nil {
		fmt.Fprintf(r.w, "groups: %d groups, %d grouped products, largest %d, %.2f s = %.1f%% of the run\n",
			g.Groups, g.GroupedProducts, g.Largest, g.Seconds, 100*g.Seconds/m.Wall.Seconds())
	}
	return nil
}

// writeSyntheticVectors writes a vectors folder (as essync embed writes it)
// of n rows streamed from benchdata.Vectors, and a catalog NDJSON naming the
// same products, without holding the matrix.
func writeSyntheticVectors(dir, catalogPath string, n, dims, clusters int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gen := benchdata.NewVectors(dims, clusters, seed)
	f, err := os.Create(filepath.Join(dir, vectors.MatrixFile))
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := npy.WriteHeader(w, n, dims); err != nil {
		return err
	}
	const chunk = 4096
	for first := 0; first < n; first += chunk {
		if err := npy.WriteValues(w, gen.Matrix(first, min(chunk, n-first))); err != nil {
			return err
		}
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	cat, err := os.Create(catalogPath)
	if err != nil {
		return err
	}
	defer cat.Close()
	cw := bufio.NewWriter(cat)
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("p-%07d", i)
		fmt.Fprintf(cw, "{\"productId\":%q,\"imageName\":%q,\"price\":%d}\n", ids[i], ids[i]+".jpg", 10+i%90)
	}
	if err := cw.Flush(); err != nil {
		return err
	}
	for name, v := range map[string]any{vectors.IDsFile: ids, vectors.MetaFile: vectors.Meta{Model: benchVectorsModel, Dims: dims}} {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
