package pipeline

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
)

// GroupOptions configures the offer groups every full and incremental run
// computes from the neighbour graph (see package groups).
type GroupOptions struct {
	Threshold       float32 // least similarity of a link (0: groups.DefaultThreshold)
	MedoidThreshold float32 // least similarity to the group's medoid (0: Threshold - groups.DefaultMedoidGap)
	Same            string  // catalog field two products must share to be grouped ("": none)
	Apart           string  // catalog field whose differing values keep products apart ("": none)
}

// GroupsReport summarises a run's offer groups.
type GroupsReport struct {
	Threshold       float32 `json:"threshold"`
	MedoidThreshold float32 `json:"medoid_threshold"`
	Same            string  `json:"same,omitempty"`
	Apart           string  `json:"apart,omitempty"`
	Groups          int     `json:"groups"`           // groups of two or more products
	GroupedProducts int     `json:"grouped_products"` // products in those groups
	Largest         int     `json:"largest"`
	Splits          int     `json:"splits"` // connected parts the medoid guard split
	Seconds         float64 `json:"seconds"`
}

// computeGroups groups the graph's products: ids[i] owns row i of vectors,
// fields returns a product's catalog fields (for --group-same/--group-apart).
// The time goes to the "groups" stage and the report.
func computeGroups(cfg *Config, g *neighbors.Graph, ids []string, vectors []float32, dims int, fields func(id string) map[string]json.RawMessage, rep *Report) (*groups.Result, error) {
	opts := groups.Options{Threshold: cfg.Groups.Threshold, MedoidThreshold: cfg.Groups.MedoidThreshold}
	if name := cfg.Groups.Same; name != "" {
		opts.Same = func(id string) string { return catalog.FieldText(fields(id)[name]) }
	}
	if name := cfg.Groups.Apart; name != "" {
		opts.Apart = func(id string) string { return catalog.FieldText(fields(id)[name]) }
	}
	var res *groups.Result
	start := time.Now()
	err := rep.timed("groups", func() error {
		var err error
		res, err = groups.FromGraph(g, ids, vectors, dims, opts)
		if err != nil {
			return fmt.Errorf("offer groups: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	st := res.Stats()
	seconds := time.Since(start).Seconds()
	if rep.Groups != nil {
		seconds += rep.Groups.Seconds // refusal rounds recompute the groups
	}
	rep.Groups = &GroupsReport{Threshold: st.Threshold, MedoidThreshold: st.MedoidThreshold, Same: cfg.Groups.Same, Apart: cfg.Groups.Apart,
		Groups: st.Groups, GroupedProducts: st.GroupedProducts, Largest: st.Largest, Splits: st.Splits, Seconds: seconds}
	slog.Info("offer groups", "groups", st.Groups, "grouped_products", st.GroupedProducts, "largest", st.Largest,
		"splits", st.Splits, "threshold", st.Threshold, "medoid_threshold", st.MedoidThreshold, "seconds", seconds)
	return res, nil
}

// groupChanged lists the ids whose group id or size differs between two
// results (nil old: none).
func groupChanged(old, nu *groups.Result, ids []string) []string {
	if old == nil {
		return nil
	}
	var out []string
	for _, id := range ids {
		a, an := old.Of(id)
		b, bn := nu.Of(id)
		if a != b || an != bn {
			out = append(out, id)
		}
	}
	return out
}
