package pipeline

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/essync/essync/esindex"
)

// Skipped is one product that did not reach the index, and why.
type Skipped struct {
	Stage  string `json:"stage"`          // catalog, embed or index
	Row    int    `json:"row,omitempty"`  // record number in the catalog
	Line   int    `json:"line,omitempty"` // line in the catalog file where the record starts
	ID     string `json:"id,omitempty"`
	Image  string `json:"image,omitempty"`
	Kind   string `json:"kind,omitempty"`
	Reason string `json:"reason"`
}

// Report is the run report: counts per stage, every skipped product with its
// reason, the measured neighbour recall, timings, and what went live.
type Report struct {
	Mode       string    `json:"mode"` // full or incremental
	StartedAt  time.Time `json:"started_at"`
	FinishedAt time.Time `json:"finished_at"`
	Catalog    string    `json:"catalog"`
	Model      string    `json:"model"`
	Dims       int       `json:"dims"`

	CatalogRows int `json:"catalog_rows"` // valid + skipped rows
	Products    int `json:"products"`     // valid rows
	Embedded    int `json:"embedded"`     // vectors computed by the model
	FromCache   int `json:"from_cache"`   // vectors found in the cache
	Indexed     int `json:"indexed"`      // documents in the index that went live (or written to --out)

	Vectors   *VectorsReport  `json:"vectors,omitempty"` // runs on precomputed vectors (--vectors)
	Neighbors NeighborsReport `json:"neighbors"`
	Groups    *GroupsReport   `json:"groups,omitempty"` // offer groups (absent when the run failed before them)
	Index     IndexReport     `json:"index"`
	Changes   *ChangeReport   `json:"changes,omitempty"`  // incremental runs
	Snapshot  *SnapshotReport `json:"snapshot,omitempty"` // the local state snapshot (with a state dir, and every incremental run)

	Skipped      []Skipped          `json:"skipped"`
	StageSeconds map[string]float64 `json:"stage_seconds"`

	// Error says why the run failed ("" when it succeeded): the publish
	// gate's reason, a refused request, a held lease, a signal, …
	Error string `json:"error,omitempty"`
}

// NeighborsReport says how the top-K lists were computed and how good they are.
type NeighborsReport struct {
	K      int     `json:"k"`
	Exact  bool    `json:"exact"`
	Recall float64 `json:"recall"` // measured recall@K on a sample (1 for exact)
	// RecallMeasured says this run measured Recall. An incremental run in
	// which no list changed carries the recall the state snapshot stored
	// instead (RecallMeasured false, RecallFromGeneration the index
	// generation it was measured at); one whose sample pass was cancelled
	// reports none (Recall 0, RecallNote says why).
	RecallMeasured       bool   `json:"recall_measured"`
	RecallFromGeneration int64  `json:"recall_from_generation,omitempty"`
	RecallNote           string `json:"recall_note,omitempty"`
	// RecallSeconds is an incremental run's sample pass, which runs beside
	// the groups, documents and index stages (the "recall" stage is only
	// the wait for it at their end).
	RecallSeconds float64 `json:"recall_seconds,omitempty"`
}

// IndexReport says what happened in Elasticsearch (or on disk without it).
type IndexReport struct {
	Alias string `json:"alias,omitempty"`
	Live  string `json:"live,omitempty"` // concrete index that went live
	// Similar is the similar index (the lists) that went live with Live,
	// or that an incremental run wrote to.
	Similar  string   `json:"similar,omitempty"`
	Previous []string `json:"previous,omitempty"`
	Pruned   []string `json:"pruned,omitempty"`
	OutFile  string   `json:"out_file,omitempty"` // bulk-ready NDJSON when no Elasticsearch
	// SimilarOutFile is the list documents' NDJSON next to OutFile.
	SimilarOutFile string             `json:"similar_out_file,omitempty"`
	Bulk           esindex.BulkResult `json:"bulk"`
	Refused        int                `json:"refused"` // documents Elasticsearch refused (listed in skipped)
	// Discarded is the half-built index deleted after a failed run;
	// KeptFailed the one kept for inspection (--keep-failed).
	Discarded  string `json:"discarded,omitempty"`
	KeptFailed string `json:"kept_failed,omitempty"`
}

// ChangeReport counts what an incremental run found and wrote.
type ChangeReport struct {
	New           int `json:"new"`
	ImageChanged  int `json:"image_changed"`
	FieldsChanged int `json:"fields_changed"`
	Deleted       int `json:"deleted"`
	// ListsChanged counts existing products whose list document changed:
	// the similar list or (schema 4) the offer group's id or size.
	ListsChanged int `json:"lists_changed"`
	// GroupsChanged counts existing products whose group_id changed: the
	// only regroupings that write the product document.
	GroupsChanged int `json:"groups_changed"`
	Unchanged     int `json:"unchanged"`
	Written       int `json:"written"` // documents written (index, update or delete)
	// WrittenProducts and WrittenLists split Written by index: product
	// documents (new, changed, new group_id, deleted) and list documents in
	// the similar index (new, changed lists or groups, deleted).
	WrittenProducts int `json:"written_products"`
	WrittenLists    int `json:"written_lists"`
}

func (r *Report) skip(s Skipped) { r.Skipped = append(r.Skipped, s) }

// timed runs f and records its wall time under stage.
func (r *Report) timed(stage string, f func() error) error {
	start := time.Now()
	err := f()
	r.StageSeconds[stage] += time.Since(start).Seconds()
	return err
}

// WriteFile writes the report as indented JSON, atomically.
func (r *Report) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("report %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}
