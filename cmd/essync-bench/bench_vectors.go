package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/essync/essync/benchdata"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/internal/memstat"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/pipeline"
	"github.com/essync/essync/vectors"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"
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
	} else if c.Bool("keep-index") {
		// The state snapshot a later `incremental --vectors` taking up this
		// alias and --dir starts from (as a user's first incremental would).
		cfg.StateDir = filepath.Join(r.dir, "state")
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
// of the generator's rows 0 … n-1 and a catalog NDJSON naming the same
// products, without holding the matrix.
func writeSyntheticVectors(dir, catalogPath string, n, dims, clusters int, seed uint64) error {
	rows := make([]int, n)
	for i := range rows {
		rows[i] = i
	}
	return writeSyntheticRows(dir, catalogPath, rows, dims, clusters, seed)
}

// writeSyntheticCatalog writes the catalog rows naming ids (generator rows
// rows, which pick the price) into cat, and the vectors folder's ids.json
// and report.json into dir.
func writeSyntheticCatalog(cat io.Writer, dir string, ids []string, rows []int, dims int) error {
	cw := bufio.NewWriter(cat)
	for k, i := range rows {
		fmt.Fprintf(cw, "{\"productId\":%q,\"imageName\":%q,\"price\":%d}\n", ids[k], ids[k]+".jpg", 10+i%90)
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

// benchIncrementalVectors is `essync-bench incremental --vectors`: essync
// incremental on synthetic vectors after --new new and --deleted deleted
// products (new rows from the same generator), with the local state
// snapshot. It takes up a kept alias and --dir of `essync-bench full
// --vectors --keep-index` (same -n, --dims, --seed) instead of running full
// itself; a first incremental on the unchanged catalog then reads the index
// once and writes the snapshot, so the measured run is one with it.
func benchIncrementalVectors(c *cli.Context) error {
	n, dims, seed := c.Int("n"), c.Int("dims"), c.Uint64("seed")
	added, removed := int(math.Round(float64(n)*c.Float64("new"))), int(math.Round(float64(n)*c.Float64("deleted")))
	if n < 2 || added < 0 || removed < 0 || removed >= n {
		return fmt.Errorf("--n, --new and --deleted leave nothing to measure")
	}
	es, _, err := benchClient(c)
	if err != nil {
		return err
	}
	r, cleanup, err := newBenchRun(c, "incr")
	if err != nil {
		return err
	}
	defer cleanup()
	clusters := max(n/6, 1) // as benchFullVectors
	beforeDir, beforeCatalog := filepath.Join(r.dir, "vectors"), filepath.Join(r.dir, "catalog.ndjson")
	stateDir := c.Path("state-dir")
	if stateDir == "" {
		stateDir = filepath.Join(r.dir, "state")
	}
	runs := 0
	run := func(title, catalogPath, vectorsDir string, job func(context.Context, pipeline.Config) (*pipeline.Report, error)) (measured, error) {
		cfg := r.config(catalogPath, "")
		cfg.Catalog.ImagesDir = ""
		cfg.Vectors = []string{vectorsDir}
		cfg.StateDir = stateDir
		cfg.Bulk.GiveUpAfter = c.Duration("give-up") // a busy node loads 1280-d documents slowly
		debug.FreeOSMemory()
		runs++
		profilePath := ""
		if prefix := c.Path("peak-profile"); prefix != "" {
			profilePath = fmt.Sprintf("%s-%d.pprof", prefix, runs)
		}
		prof := startPeakProfile(profilePath)
		m, err := r.run(title, job, cfg)
		if peak, perr := prof.Stop(); profilePath != "" {
			fmt.Fprintf(r.w, "  heap profile at the heap peak (%s in use): %s (error: %v)\n", memstat.MiB(peak), profilePath, perr)
		}
		if err == nil && m.Report.Snapshot != nil {
			s := m.Report.Snapshot
			used := "USED (the index was not read)"
			if !s.Used && m.Report.Mode == "incremental" {
				used = fmt.Sprintf("not used, %d documents read from the index: %s", s.IndexDocumentsRead, s.Reason)
			} else if m.Report.Mode != "incremental" {
				used = "written by full"
			}
			fmt.Fprintf(r.w, "  state snapshot: %s; written %v at generation %d\n", used, s.Written, s.Generation)
		}
		return m, err
	}

	live, _ := esindex.AliasIndices(c.Context, es, r.alias)
	var fullWall time.Duration
	if _, statErr := os.Stat(filepath.Join(beforeDir, vectors.MatrixFile)); len(live) == 1 && statErr == nil {
		if !c.Bool("keep-index") {
			return fmt.Errorf("alias %s exists: taking it up needs --keep-index, or the benchmark would delete it afterwards", r.alias)
		}
		fullWall = c.Duration("full-time")
		fmt.Fprintf(r.w, "taking up alias %s (index %s) and %s: no full run here; full run's time from --full-time: %s\n", r.alias, live[0], r.dir, fullWall)
	} else {
		if len(live) > 0 {
			return fmt.Errorf("alias %s exists but %s holds no vectors of its full run: pass the --dir of `essync-bench full --vectors --keep-index` (a full run here would replace and prune that index)", r.alias, beforeDir)
		}
		if err := writeSyntheticVectors(beforeDir, beforeCatalog, n, dims, clusters, seed); err != nil {
			return err
		}
		full, err := run("essync full --vectors", beforeCatalog, beforeDir, pipeline.Full)
		if err != nil {
			return err
		}
		fullWall = full.Wall
	}

	// The catalog after: rows 0 … n+added-1 of the same generator, less
	// the deleted ones, as a user re-embedding would hand them over.
	gone := map[int]bool{}
	for _, i := range rand.New(rand.NewPCG(seed, 5)).Perm(n)[:removed] {
		gone[i] = true
	}
	var rows []int
	for i := range n + added {
		if !gone[i] {
			rows = append(rows, i)
		}
	}
	afterDir, afterCatalog := filepath.Join(r.dir, "vectors-after"), filepath.Join(r.dir, "catalog-after.ndjson")
	start := time.Now()
	if err := writeSyntheticRows(afterDir, afterCatalog, rows, dims, clusters, seed); err != nil {
		return err
	}
	fmt.Fprintf(r.w, "catalog after: %d new, %d deleted, %d products (written in %.1f s, not measured)\n", added, removed, len(rows), time.Since(start).Seconds())

	if _, err := run("incremental on the unchanged catalog (reads the index if the snapshot is missing or stale, then writes it)", beforeCatalog, beforeDir, pipeline.Incremental); err != nil {
		return err
	}
	// The node's CPU over the measured run and the merges it leaves behind
	// (until the product index has run no merge for a second): what the
	// writes cost the cluster, re-indexed vectors included, and less
	// sensitive to the machine's other load than wall time.
	cold := func() {
		if c.Bool("cold") {
			dropFileCache(r, filepath.Join(stateDir, r.alias, vectors.MatrixFile), filepath.Join(afterDir, vectors.MatrixFile))
		}
	}
	cold()
	cpu0, cpuErr := nodeCPU(c.Context, es)
	inc, err := run("incremental after the changes (MEASURED)", afterCatalog, afterDir, pipeline.Incremental)
	if err != nil {
		return err
	}
	if cpuErr == nil {
		tail, terr := mergeTail(c.Context, es, r.alias, c.Duration("merge-wait"))
		cpu1, cerr := nodeCPU(c.Context, es)
		if err := errors.Join(terr, cerr); err != nil {
			fmt.Fprintf(r.w, "node CPU not measured: %v\n", err)
		} else {
			fmt.Fprintf(r.w, "node CPU over the measured incremental and its merge tail: %.1f s (merge tail %.1f s after the run); load average %s\n",
				(cpu1 - cpu0).Seconds(), tail.Seconds(), loadAverage())
		}
	}
	cold()
	again, err := run("incremental again", afterCatalog, afterDir, pipeline.Incremental)
	if err != nil {
		return err
	}
	if fullWall > 0 {
		fmt.Fprintf(r.w, "incremental / full wall time: %.2f s / %.1f s = %.2f%% (target ≤ 5%%)\n", inc.Wall.Seconds(), fullWall.Seconds(), 100*inc.Wall.Seconds()/fullWall.Seconds())
	}
	fmt.Fprintf(r.w, "second incremental wrote %d documents (want 0)\n", again.Report.Changes.Written)
	if ch := inc.Report.Changes; ch != nil {
		// Schema 4: a product document is written only when the product is
		// new or deleted or its group_id changed; every changed list or
		// group size is a list document.
		products := added + removed + ch.GroupsChanged
		fmt.Fprintf(r.w, "product documents written: %d; needed %d (%d new + %d deleted + %d new group_id) → %.3f×; list documents written: %d (%d new + %d deleted + %d changed lists or group sizes)\n",
			ch.WrittenProducts, products, added, removed, ch.GroupsChanged, float64(ch.WrittenProducts)/float64(max(products, 1)),
			ch.WrittenLists, added, removed, ch.ListsChanged)
	}
	raw := uint64(len(rows)) * uint64(dims) * 4
	bound := raw*3/2 + 512<<20
	fmt.Fprintf(r.w, "measured incremental peak RSS %s = %.2f × raw vectors (%s); bound 1.5 × raw + 512 MiB = %s: %s\n",
		memstat.MiB(inc.Mem.RSS), float64(inc.Mem.RSS)/float64(raw), memstat.MiB(raw), memstat.MiB(bound), map[bool]string{true: "within", false: "EXCEEDED"}[inc.Mem.RSS <= bound])
	if n+added > c.Int("exact-limit") {
		fmt.Fprintf(r.w, "exact minimum not computed: %d products exceed --exact-limit %d (brute force over all pairs)\n", n+added, c.Int("exact-limit"))
		return nil
	}
	changed, err := exactVectorListChanges(c.Context, r, dims, clusters, seed, n, rows)
	if err != nil {
		return err
	}
	minimum := added + removed + changed
	fmt.Fprintf(r.w, "list documents written: %d; minimum necessary %d (%d new + %d deleted + %d existing products whose exact top-20 changed) → %.3f× the minimum (target ≤ 1.01×)\n",
		inc.Report.Changes.WrittenLists, minimum, added, removed, changed, float64(inc.Report.Changes.WrittenLists)/float64(minimum))
	return nil
}

// writeSyntheticRows writes a vectors folder of the generator's rows (ids
// p-<row>, in the order given) and their catalog, streamed row by row.
func writeSyntheticRows(dir, catalogPath string, rows []int, dims, clusters int, seed uint64) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	gen := benchdata.NewVectors(dims, clusters, seed)
	w, err := vectors.Create(dir, len(rows), dims)
	if err != nil {
		return err
	}
	row := make([]float32, dims)
	ids := make([]string, len(rows))
	for k, i := range rows {
		gen.Row(i, row)
		if err := w.Add(row); err != nil {
			w.Abort()
			return err
		}
		ids[k] = fmt.Sprintf("p-%07d", i)
	}
	if err := w.Close(); err != nil {
		return err
	}
	cat, err := os.Create(catalogPath)
	if err != nil {
		return err
	}
	defer cat.Close()
	return writeSyntheticCatalog(cat, dir, ids, rows, dims)
}

// exactVectorListChanges counts the products present before (rows 0 … n-1)
// and after (rows) whose exact top-20 differs.
func exactVectorListChanges(ctx context.Context, r *benchRun, dims, clusters int, seed uint64, n int, rows []int) (int, error) {
	start := time.Now()
	gen := benchdata.NewVectors(dims, clusters, seed)
	exact := func(rs []int) (*neighbors.Graph, error) {
		ids := make([]string, len(rs))
		m := make([]float32, len(rs)*dims)
		for k, i := range rs {
			ids[k] = fmt.Sprintf("p-%07d", i)
			gen.Row(i, m[k*dims:(k+1)*dims])
		}
		return neighbors.BuildContext(ctx, ids, m, dims, neighbors.Options{K: 20, Exact: true})
	}
	before := make([]int, n)
	for i := range before {
		before[i] = i
	}
	old, err := exact(before)
	if err != nil {
		return 0, err
	}
	nu, err := exact(rows)
	if err != nil {
		return 0, err
	}
	changed := 0
	for _, i := range rows {
		if i >= n {
			continue // new
		}
		id := fmt.Sprintf("p-%07d", i)
		if !slices.Equal(old.Neighbors(id), nu.Neighbors(id)) {
			changed++
		}
	}
	fmt.Fprintf(r.w, "exact top-20 before and after computed in %.1f s (not part of any measurement)\n", time.Since(start).Seconds())
	return changed, nil
}

// dropFileCache asks the kernel to drop the page cache of paths
// (posix_fadvise DONTNEED; best effort), so the next run reads them from
// disk as it would at a size that does not fit the cache (--cold).
func dropFileCache(r *benchRun, paths ...string) {
	for _, p := range paths {
		f, err := os.Open(p)
		if err == nil {
			err = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
			f.Close()
		}
		fmt.Fprintf(r.w, "page cache of %s dropped (error: %v)\n", p, err)
	}
}
