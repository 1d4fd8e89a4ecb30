package pipeline

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
)

// GroupOptions configures the offer groups every full and incremental run
// computes from the neighbour graph (see package groups).
type GroupOptions struct {
	Threshold       float32 // least similarity of a link (0: groups.DefaultThreshold)
	MedoidThreshold float32 // least similarity to the group's medoid (0: Threshold - groups.DefaultMedoidGap)
	Same            string  // catalog field two products must share to be grouped ("": none)
	Apart           string  // catalog field whose differing values keep products apart ("": none)
	// NoVerify turns the layout verifier off: links need only the
	// threshold and mutual top-K (the verifier is also off without images).
	NoVerify bool
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
	// Verifier is "layout" when every candidate link was checked against
	// the two images' layouts (embed.Layout), else "off: <why>".
	Verifier   string             `json:"verifier"`
	Candidates int                `json:"candidates"` // links above the threshold, before the verifier
	Rejected   int                `json:"rejected"`   // of them turned down by the verifier
	Layouts    *embed.LayoutStats `json:"layouts,omitempty"`
	Seconds    float64            `json:"seconds"`
}

// computeGroups groups the graph's products: ids[i] owns row i of vectors,
// fields returns a product's catalog fields (for --group-same/--group-apart).
// The time goes to the "groups" stage and the report.
func computeGroups(cfg *Config, g *neighbors.Graph, ids []string, vectors []float32, dims int, field func(id, name string) json.RawMessage, rep *Report) (*groups.Result, error) {
	opts := groups.Options{Threshold: cfg.Groups.Threshold, MedoidThreshold: cfg.Groups.MedoidThreshold}
	if name := cfg.Groups.Same; name != "" {
		opts.Same = func(id string) string { return catalog.FieldText(field(id, name)) }
	}
	if name := cfg.Groups.Apart; name != "" {
		opts.Apart = func(id string) string { return catalog.FieldText(field(id, name)) }
	}
	var res *groups.Result
	start := time.Now()
	verifier, verifierState, closeVerifier := layoutVerifier(cfg, field)
	defer closeVerifier()
	if verifier != nil {
		opts.Verify = verifier.Verify
	}
	err := rep.timed("groups", func() error {
		// The groups read the mapped vectors at random, which maps most of
		// the file (pager.go): keep the heap near what is live meanwhile,
		// starting from no garbage (the search's wide lists), and drop the
		// file's pages once done, before the documents' heap grows.
		defer debug.SetGCPercent(debug.SetGCPercent(25))
		debug.FreeOSMemory()
		defer npy.DropPages(cfg.mapped)
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
	var layouts *embed.LayoutStats
	if verifier != nil {
		ls := verifier.Stats()
		layouts = &ls
		if rep.Groups != nil && rep.Groups.Layouts != nil { // refusal rounds verify again
			ls.Seconds += rep.Groups.Layouts.Seconds
			ls.Layouts += rep.Groups.Layouts.Layouts
		}
	}
	rep.Groups = &GroupsReport{Threshold: st.Threshold, MedoidThreshold: st.MedoidThreshold, Same: cfg.Groups.Same, Apart: cfg.Groups.Apart,
		Groups: st.Groups, GroupedProducts: st.GroupedProducts, Largest: st.Largest, Splits: st.Splits,
		Verifier: verifierState, Candidates: st.Candidates, Rejected: st.Rejected, Layouts: layouts, Seconds: seconds}
	slog.Info("offer groups", "groups", st.Groups, "grouped_products", st.GroupedProducts, "largest", st.Largest,
		"splits", st.Splits, "threshold", st.Threshold, "medoid_threshold", st.MedoidThreshold,
		"verifier", verifierState, "candidates", st.Candidates, "rejected", st.Rejected, "seconds", seconds)
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

// layoutVerifier builds the verifier of candidate links (see
// embed.LayoutVerifier) and says whether it runs: "layout", or "off: <why>"
// when turned off or when the run has no images (--vectors without
// --images). Full and incremental runs build it alike, from the catalog's
// image field under the images folder, so they group alike. Its layout
// cache sits beside the vector cache (none with --no-cache). close releases
// the images folder and the cache.
func layoutVerifier(cfg *Config, field func(id, name string) json.RawMessage) (v *embed.LayoutVerifier, state string, close func()) {
	switch {
	case cfg.Groups.NoVerify:
		return nil, "off: --group-verify=false", func() {}
	case cfg.Catalog.ImagesDir == "":
		return nil, "off: no images (--vectors without --images)", func() {}
	}
	root, err := os.OpenRoot(cfg.Catalog.ImagesDir)
	if err != nil {
		return nil, fmt.Sprintf("off: images folder: %v", err), func() {}
	}
	imageField := cfg.Catalog.ImageField
	if imageField == "" {
		imageField = catalog.DefaultImageField
	}
	v = &embed.LayoutVerifier{MaxPixels: cfg.Embed.MaxPixels, Read: func(id string) ([]byte, error) {
		name := catalog.FieldText(field(id, imageField))
		if name == "" {
			return nil, fmt.Errorf("product %s has no %s", id, imageField)
		}
		return embed.ReadImageIn(root, filepath.FromSlash(name))
	}}
	if path := cfg.Embed.CachePath; path != "" {
		if v.Cache, err = embed.OpenLayoutCache(embed.LayoutCachePath(path)); err != nil {
			slog.Warn("offer groups: layout cache unavailable; decoding every image on a candidate link", "err", err)
		}
	}
	return v, "layout", func() {
		v.Cache.Close()
		root.Close()
	}
}
