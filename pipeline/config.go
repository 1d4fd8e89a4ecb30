// Package pipeline runs essync's jobs end to end: catalog → vectors →
// neighbours → Elasticsearch, for a full rebuild or an incremental update.
// It holds the sync logic; each stage's mechanics live in its own package.
package pipeline

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
)

// Config is everything a run needs. The CLI fills it from flags; tests fill
// it directly.
type Config struct {
	CatalogPath string
	Catalog     catalog.Options // id/image field names and the images folder

	// Vectors are folders of precomputed vectors (essync embed's output:
	// vectors.npy, ids.json, report.json naming the model) used instead of
	// embedding images; the index records their model.
	Vectors []string

	ModelCard string        // path of the model card; "" = the shipped default
	Embed     embed.Options // ORT library, batch, threads, cache

	K      int     // neighbours per product (default 20)
	Exact  bool    // exact top-K instead of the approximate forest
	Recall float64 // recall target of the approximate search (default 0.99)
	Seed   int64
	// Neighbors is where the top-K lists of a full run come from:
	// NeighborsForest ("" too), essync's forest here, or NeighborsES,
	// Elasticsearch's own kNN on the loaded index before the swap.
	Neighbors string

	Groups GroupOptions // offer groups computed on every run

	ES           *esindex.Config // nil: no Elasticsearch, write documents to OutDir
	Alias        string          // the alias readers use (default "products")
	Keep         int             // previous complete indices kept for rollback (default 1)
	Replicas     int             // replicas restored after the load
	Shards       int             // primary shards of a new index (default 1)
	IndexOptions string          // dense_vector index_options type (default hnsw)
	Bulk         esindex.BulkOptions

	// StateDir holds a state snapshot per alias (what the live index
	// holds: ids, hashes, image stats, lists, vectors), written at the end
	// of every successful run, so an incremental run need not read the
	// index back. "": none; incremental then always reads the index.
	StateDir string

	OutDir        string // where documents.ndjson goes without Elasticsearch
	NeighborsJSON string // also write the old pipeline's nearest_neighbors.json here
	MaxSkipped    int    // more skipped products than this fails the run before the swap; <0 = no limit
	MaxRefused    Limit  // documents Elasticsearch may refuse before the publish gate fails (default 0)
	KeepFailed    bool   // keep an index that failed the publish gate, for inspection
	// Renames maps catalog field names to new names (old → new), applied
	// before the collision check, e.g. {"model": "product_model"}.
	Renames map[string]string

	LeaseTTL time.Duration // lifetime of the alias lease without renewal (default 60s)
	WaitLock time.Duration // wait this long for a held lease; 0: fail at once
	Command  string        // recorded in the lease, e.g. "essync full"

	Progress ProgressFunc // per-stage progress; nil = silent
	Now      func() time.Time

	// mapped is the run's matrix when it is the --vectors file mapping
	// itself (nil otherwise): its resident pages may be dropped (pager.go).
	mapped []float32
	// lease is the run's lease on the alias once taken (nil offline).
	lease *esindex.Lease
}

// ProgressFunc starts a progress display for a stage of total items and
// returns the function that reports how many are done.
type ProgressFunc func(stage string, total int) func(done int)

// ErrTooManySkipped is returned (wrapped) when a run skipped more products
// than Config.MaxSkipped allows; nothing was published.
var ErrTooManySkipped = errors.New("too many products skipped")

// ErrUsage marks errors caused by how essync was called (flags, catalog
// fields that need --rename): the CLI exits 2 for them.
var ErrUsage = errors.New("usage error")

// ErrGate is returned (wrapped) when the publish gate refused the new
// index: the alias was not moved and nothing was pruned.
var ErrGate = errors.New("publish gate: the new index did not go live")

// Limit is a number of documents given as a count or as a percentage of the
// documents a run sends (--max-refused 5, --max-refused 0.5%).
type Limit struct {
	Count   int
	Percent float64 // used when IsPercent
	// IsPercent says Percent applies rather than Count.
	IsPercent bool
}

// ParseLimit reads "5" or "0.5%".
func ParseLimit(s string) (Limit, error) {
	s = strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || f < 0 || f > 100 {
			return Limit{}, fmt.Errorf("%q is not a percentage between 0%% and 100%%", s)
		}
		return Limit{Percent: f, IsPercent: true}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return Limit{}, fmt.Errorf("%q is neither a count (0, 1, …) nor a percentage (0.5%%)", s)
	}
	return Limit{Count: n}, nil
}

// Allowed returns how many of total documents the limit allows.
func (l Limit) Allowed(total int) int {
	if l.IsPercent {
		return int(math.Floor(l.Percent / 100 * float64(total)))
	}
	return l.Count
}

func (l Limit) String() string {
	if l.IsPercent {
		return strconv.FormatFloat(l.Percent, 'g', -1, 64) + "%"
	}
	return strconv.Itoa(l.Count)
}

func (c *Config) neighborOptions() neighbors.Options {
	o := neighbors.Options{K: c.K, Exact: c.Exact, Recall: c.Recall, Seed: c.Seed}
	if c.mapped != nil {
		o.DropPages = func() { npy.DropPages(c.mapped) }
	}
	return o
}

func (c *Config) defaults() {
	if c.K <= 0 {
		c.K = 20
	}
	if c.Recall <= 0 {
		c.Recall = 0.99
	}
	if c.Alias == "" {
		c.Alias = "products"
	}
	if c.Keep < 0 {
		c.Keep = 0
	}
	if c.Shards <= 0 {
		c.Shards = 1
	}
	if c.IndexOptions == "" {
		c.IndexOptions = "hnsw"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Progress == nil {
		c.Progress = func(string, int) func(int) { return func(int) {} }
	}
}
