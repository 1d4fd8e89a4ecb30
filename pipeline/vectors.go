package pipeline

import (
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/npy"
	"github.com/essync/essync/vectors"
)

// VectorsReport says what a run on precomputed vectors (--vectors) used.
type VectorsReport struct {
	Folders []string `json:"folders"`
	Model   string   `json:"model"` // the model named in the vectors' report.json, recorded in the index
	Rows    int      `json:"rows"`  // vectors in the folders
	Used    int      `json:"used"`  // vectors of catalog products
	// Unused counts vectors whose id no catalog row has; UnusedIDs names
	// the first maxUnusedListed of them.
	Unused    int      `json:"unused"`
	UnusedIDs []string `json:"unused_ids,omitempty"`
	// DigestsComputed names the folders whose row digests were computed
	// by reading vectors.npy (no digests.bin, or the file changed after it
	// was written); the others' came from their digests.bin.
	DigestsComputed []string `json:"digests_computed,omitempty"`
}

// maxUnusedListed bounds the ids of unused vectors a report lists.
const maxUnusedListed = 100

// openVectors maps the --vectors folders as one set and takes the model and
// dims the index will record from it.
func openVectors(cfg *Config, rep *Report) (*vectors.Set, error) {
	var set *vectors.Set
	err := rep.timed("vectors", func() error {
		var err error
		if set, err = vectors.Open(cfg.Vectors...); err != nil {
			return err
		}
		if set.Model == "" {
			set.Close()
			return fmt.Errorf("vectors %s: no report.json naming the model that made them; essync records the model in the index, so write one beside vectors.npy, e.g. {\"model\": \"my-model@v1\", \"dims\": %d}: %w",
				strings.Join(cfg.Vectors, ","), set.Dims, ErrUsage)
		}
		seen := make(map[string]int, len(set.IDs))
		for r, id := range set.IDs {
			if first, dup := seen[id]; dup {
				set.Close()
				return fmt.Errorf("vectors %s: id %q appears at rows %d and %d: %w", strings.Join(cfg.Vectors, ","), id, first, r, ErrUsage)
			}
			seen[id] = r
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	rep.Model, rep.Dims = set.Model, set.Dims
	rep.Vectors = &VectorsReport{Folders: cfg.Vectors, Model: set.Model, Rows: len(set.IDs), DigestsComputed: set.DigestsComputed}
	slog.Info("vectors", "folders", cfg.Vectors, "rows", len(set.IDs), "dims", set.Dims, "model", set.Model, "digests_computed", set.DigestsComputed)
	return set, nil
}

// vectorRows matches the catalog with the vectors: it returns the products
// that have a vector, in the vectors' row order, with their rows; a product
// without one is skipped with its reason and a vector without a product is
// counted in the report.
func vectorRows(set *vectors.Set, products []catalog.Product, rep *Report) ([]catalog.Product, []int) {
	byID := make(map[string]int, len(products))
	for i, p := range products {
		byID[p.ID] = i
	}
	used := make([]bool, len(products))
	var kept []catalog.Product
	var rows []int
	for r, id := range set.IDs {
		i, ok := byID[id]
		if !ok {
			rep.Vectors.Unused++
			if len(rep.Vectors.UnusedIDs) < maxUnusedListed {
				rep.Vectors.UnusedIDs = append(rep.Vectors.UnusedIDs, id)
			}
			continue
		}
		used[i] = true
		kept = append(kept, products[i])
		rows = append(rows, r)
	}
	for i, p := range products {
		if !used[i] {
			rep.skip(Skipped{Stage: "vectors", Row: p.Row, Line: p.Line, ID: p.ID, Image: p.ImageName, Kind: "vector",
				Reason: "no vector for this product in --vectors: embed it (essync embed) and pass its folder too"})
		}
	}
	rep.Vectors.Used = len(kept)
	if rep.Vectors.Unused > 0 {
		slog.Warn("vectors without a catalog row are not used", "vectors", rep.Vectors.Unused, "first", rep.Vectors.UnusedIDs[0])
	}
	return kept, rows
}

// imageSums hashes the products' image files where the catalog resolved
// them (with --vectors, --images is optional): "" where there is none or
// it cannot be read (logged). snap, when not nil, spares the hashing of
// images whose stat matches its record. It also returns the stats.
func imageSums(products []catalog.Product, snap *snapshot, rep *Report) ([]string, []fileStat) {
	sums, stats, errs := imageHashes(products, snap, rep)
	for i, err := range errs {
		if err != nil {
			slog.Warn("image not readable; image_sha256 stays empty", "id", products[i].ID, "err", err)
			sums[i], stats[i] = "", fileStat{}
		}
	}
	return sums, stats
}

// vectorItems is the --vectors counterpart of embedding: every catalog
// product that has a vector becomes an item. It returns the items and one
// contiguous matrix of their vectors (ids[i] owns row i; each item's Vector
// is a view of its row). When every vector belongs to a catalog product the
// matrix is the mapped file itself, so no copy is made; otherwise the used
// rows are copied once and copied is true: the caller may then release the
// mapping at once.
func vectorItems(set *vectors.Set, products []catalog.Product, rep *Report) (items []item, ids []string, matrix []float32, copied bool) {
	kept, rows := vectorRows(set, products, rep)
	sums, stats := imageSums(kept, nil, rep)
	dims := set.Dims
	matrix = set.Matrix
	if len(kept) != len(set.IDs) {
		matrix, copied = make([]float32, len(kept)*dims), true
		for i, r := range rows {
			copy(matrix[i*dims:(i+1)*dims], set.Row(r))
		}
	}
	items = make([]item, len(kept))
	ids = make([]string, len(kept))
	for i, p := range kept {
		ids[i] = p.ID
		items[i] = item{Product: p, Vector: matrix[i*dims : (i+1)*dims : (i+1)*dims], SHA256: sums[i], Size: stats[i].Size, MTime: stats[i].MTime}
	}
	return items, ids, matrix, copied
}

// planVectorChanges is planChanges for --vectors: a product's vector
// itself tells whether it changed (compared with the stored one, as image
// hashes are without --vectors), so nothing is embedded. The comparison is
// by row digest (vectors.RowDigest, the folder's digests.bin against the
// snapshot's), so neither matrix is read for it: an unchanged product
// takes the snapshot's row (a view of its mapping, read only when used),
// and only new and changed vectors are read from set, and copied (a few
// percent), so the plan holds no view of set and the caller may close it
// at once. The one blind spot is a changed vector whose 64-bit digest
// equals its old one: a chance of 2⁻⁶⁴ per changed row.
func planVectorChanges(set *vectors.Set, products []catalog.Product, snap *snapshot, rep *Report) *plan {
	p := newPlan(snap, len(products))
	kept, rows := vectorRows(set, products, rep)
	sums, stats := imageSums(kept, snap, rep)
	// stored says whether the snapshot holds pr with the same vector
	// (row digests), and at which row.
	stored := func(i int, pr catalog.Product) (row int32, known, same bool) {
		row, known = snap.row[pr.ID]
		return row, known, known && set.Digests[rows[i]] == snap.digests[row]
	}
	set.AdviseRandom() // only the new and changed rows are read
	var wanted []int
	for i, pr := range kept {
		if _, _, same := stored(i, pr); !same {
			wanted = append(wanted, rows[i])
		}
	}
	set.WillNeed(wanted) // all at once: the disk reads them in parallel
	for i, pr := range kept {
		var vec []float32
		row, known, same := stored(i, pr)
		switch {
		case !known:
			rep.Changes.New++
			vec = slices.Clone(set.Row(rows[i])) // the set is closed after planning
			p.added[pr.ID] = vec
		case !same:
			rep.Changes.ImageChanged++
			vec = slices.Clone(set.Row(rows[i]))
			p.added[pr.ID] = vec
		default:
			vec = snap.vector(row)
		}
		p.put(item{Product: pr, Vector: vec, SHA256: sums[i], Size: stats[i].Size, MTime: stats[i].MTime})
	}
	npy.DropPages(set.Matrix)
	slog.Info("planned by row digests", "rows_read", len(wanted), "rows", len(kept))
	p.removeRest(snap, products, rep)
	return p
}
