// Package pipeline runs essync's jobs end to end: catalog → vectors →
// neighbours → Elasticsearch, for a full rebuild or an incremental update.
// It holds the sync logic; each stage's mechanics live in its own package.
package pipeline

import (
	"fmt"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/neighbors"
)

// Config is everything a run needs. The CLI fills it from flags; tests fill
// it directly.
type Config struct {
	CatalogPath string
	Catalog     catalog.Options // id/image field names and the images folder

	ModelCard string        // path of the model card; "" = the shipped default
	Embed     embed.Options // ORT library, batch, threads, cache

	K      int     // neighbours per product (default 20)
	Exact  bool    // exact top-K instead of the approximate forest
	Recall float64 // recall target of the approximate search (default 0.99)
	Seed   int64

	ES           *esindex.Config // nil: no Elasticsearch, write documents to OutDir
	Alias        string          // the alias readers use (default "products")
	Keep         int             // previous complete indices kept for rollback (default 1)
	Replicas     int             // replicas restored after the load
	Shards       int             // primary shards of a new index (default 1)
	IndexOptions string          // dense_vector index_options type (default hnsw)
	Bulk         esindex.BulkOptions

	OutDir        string // where documents.ndjson goes without Elasticsearch
	NeighborsJSON string // also write the old pipeline's nearest_neighbors.json here
	MaxSkipped    int    // more skipped products than this makes the run "finished with too many skips"; <0 = no limit

	Progress ProgressFunc // per-stage progress; nil = silent
	Now      func() time.Time
}

// ProgressFunc starts a progress display for a stage of total items and
// returns the function that reports how many are done.
type ProgressFunc func(stage string, total int) func(done int)

// ErrTooManySkipped is returned (wrapped) when a run finished but skipped
// more products than Config.MaxSkipped allows.
var ErrTooManySkipped = fmt.Errorf("too many products skipped")

func (c *Config) neighborOptions() neighbors.Options {
	return neighbors.Options{K: c.K, Exact: c.Exact, Recall: c.Recall, Seed: c.Seed}
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
