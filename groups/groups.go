// Package groups finds offer groups: the same product sold by several shops,
// recognised because its photo is (nearly) the same. It works on the top-K
// neighbour lists essync already computes and the embedding vectors, so it is
// cheap enough to recompute from scratch on every run.
//
// Two products are linked when their similarity is at least Threshold and
// each is in the other's top-K list (mutual neighbours), and optional catalog
// constraints allow it. Groups are the connected parts of that graph, guarded
// against chaining: every member must have a similarity of at least
// MedoidThreshold to its group's medoid; a group that fails is split around
// its medoid and the rest is grouped again, until every group passes.
//
// A link may also need a second, independent signal: Options.Verify is asked
// about every candidate link and only confirmed ones count. essync passes
// embed.LayoutVerifier, which compares the two images' layouts, so two
// different items cut from one photo (whose vectors are close) stay apart.
//
// Every product gets a group; a product with no link is a group of one whose
// id derives from its own id, so a `term` query on group_id always works.
//
// Incremental runs: groups are a pure function of (ids, lists, vectors,
// options), recomputed from the whole graph each run. An incremental run whose
// lists equal a full run's therefore gives the same groups.
package groups

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"github.com/essync/essync/internal/parallel"
	"github.com/essync/essync/neighbors"
)

// DefaultThreshold is the link similarity calibrated on testdata/groups with
// the default model, --group-apart colour and the layout verifier (see
// docs/groups-threshold.png and scripts/calibrate-groups; rerun it when the
// default model or the verifier changes).
const DefaultThreshold = 0.64

// DefaultMedoidGap is how far below Threshold the medoid guard sits when
// Options.MedoidThreshold is zero: a member may be a little less similar to
// the medoid than a direct link requires, but not drift away through a chain.
const DefaultMedoidGap = 0.05

// IDPrefix starts every group id, so group ids never collide with product ids
// in a shared keyword field and read as what they are.
const IDPrefix = "g-"

// Options tunes Compute. The zero value uses DefaultThreshold, a medoid
// threshold DefaultMedoidGap below it, and no catalog constraints.
type Options struct {
	// Threshold is the least similarity of a link (0: DefaultThreshold).
	Threshold float32
	// MedoidThreshold is the least similarity of a member to its group's
	// medoid (0: Threshold - DefaultMedoidGap).
	MedoidThreshold float32
	// Same, if set, returns a catalog value (e.g. the brand) that two
	// products must share to be linked; an empty value only matches empty.
	Same func(id string) string
	// Apart, if set, returns a catalog value (e.g. the colour) that keeps two
	// products apart when both have one and they differ; an empty value
	// (unknown) does not block a link.
	Apart func(id string) string
	// Verify, if set, is asked once about every candidate link (mutual,
	// above Threshold, allowed by Same and Apart) and answers, pair by pair,
	// whether the two products are really one item (e.g. by a second,
	// independent signal from the images, see embed.Layout); only confirmed
	// links join groups. It must be a pure function of the pair, so full
	// and incremental runs group alike. An error fails Compute.
	Verify func(pairs [][2]string) (same []bool, err error)
	// FirstSeen, if set, returns when a product first appeared (ok=false:
	// unknown, treated as newest). The group id derives from the group's
	// oldest member, ties and unknowns by smallest product id; without
	// FirstSeen it is always the smallest product id.
	FirstSeen func(id string) (t time.Time, ok bool)
}

// Member is one product of a group.
type Member struct {
	ID string
	// SimilarityToMedoid is the cosine similarity to the group's medoid,
	// truncated to 4 decimals like the neighbour lists (1 for the medoid).
	SimilarityToMedoid float32
}

// Group is one offer group.
type Group struct {
	// ID is IDPrefix + the oldest member's product id.
	ID string
	// Medoid is the member with the largest sum of link similarities to the
	// others (or, where that one left members too far, the member closest to
	// the mean vector): the group's centre, which every member is close to.
	Medoid string
	// Members holds every member, most similar to the medoid first (ties by id).
	Members []Member
}

// Stats summarises a Result for run reports.
type Stats struct {
	Threshold       float32 `json:"threshold"`
	MedoidThreshold float32 `json:"medoid_threshold"`
	// Groups counts groups of two or more products.
	Groups int `json:"groups"`
	// GroupedProducts counts products in groups of two or more.
	GroupedProducts int `json:"grouped_products"`
	// Largest is the size of the largest group.
	Largest int `json:"largest"`
	// Candidates counts the mutual links above the threshold that the
	// catalog constraints allow: what the verifier was asked about.
	Candidates int `json:"candidates"`
	// Verified tells whether Options.Verify checked the candidates.
	Verified bool `json:"verified"`
	// Rejected counts candidates the verifier turned down.
	Rejected int `json:"rejected"`
	// Links is the number of accepted links: candidates less rejections.
	Links int `json:"links"`
	// Splits counts connected parts the medoid guard had to split.
	Splits int `json:"splits"`
}

// Result is every product's group.
type Result struct {
	groups []Group
	of     map[string]int32
	stats  Stats
}

// Of returns the product's group id and size ("", 0 for an unknown id).
func (r *Result) Of(id string) (groupID string, size int) {
	g, ok := r.of[id]
	if !ok {
		return "", 0
	}
	return r.groups[g].ID, len(r.groups[g].Members)
}

// Group returns the product's whole group (false for an unknown id).
func (r *Result) Group(id string) (Group, bool) {
	g, ok := r.of[id]
	if !ok {
		return Group{}, false
	}
	return r.groups[g], true
}

// Groups returns every group, singletons included, larger groups first, then
// by group id. The caller must not modify them.
func (r *Result) Groups() []Group { return r.groups }

// Stats returns the counts a run report needs.
func (r *Result) Stats() Stats { return r.stats }

// Compute groups the products. ids[i] owns lists[i] (its top-K, any order;
// entries for unknown ids are ignored) and row i of vectors (row-major,
// dims floats, unit length). The output depends only on the input, never on
// timing or map order.
func Compute(ids []string, lists [][]neighbors.Neighbor, vectors []float32, dims int, opts Options) (*Result, error) {
	opts, err := normalize(opts)
	if err != nil {
		return nil, err
	}
	if len(lists) != len(ids) {
		return nil, fmt.Errorf("groups: %d neighbour lists for %d ids", len(lists), len(ids))
	}
	if dims <= 0 || len(vectors) != len(ids)*dims {
		return nil, fmt.Errorf("groups: %d floats for %d ids of %d dims, want %d", len(vectors), len(ids), dims, len(ids)*dims)
	}
	index := make(map[string]int32, len(ids))
	for i, id := range ids {
		if id == "" {
			return nil, fmt.Errorf("groups: row %d has an empty id", i)
		}
		if j, dup := index[id]; dup {
			return nil, fmt.Errorf("groups: id %q appears at rows %d and %d", id, j, i)
		}
		index[id] = int32(i)
	}
	c := &computer{ids: ids, vecs: vectors, dims: dims, opts: opts}
	if err := c.link(index, lists); err != nil {
		return nil, err
	}
	c.split()
	return c.result(), nil
}

// FromGraph is Compute with the lists of a neighbour graph built from the same
// ids and vectors: the one call a pipeline needs after neighbors.Build.
func FromGraph(g *neighbors.Graph, ids []string, vectors []float32, dims int, opts Options) (*Result, error) {
	lists := make([][]neighbors.Neighbor, len(ids))
	for i, id := range ids {
		lists[i] = g.Neighbors(id)
	}
	return Compute(ids, lists, vectors, dims, opts)
}

func normalize(o Options) (Options, error) {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.MedoidThreshold == 0 {
		o.MedoidThreshold = o.Threshold - DefaultMedoidGap
	}
	bad := func(v float32) bool { return math.IsNaN(float64(v)) || v < -1 || v > 1 }
	if bad(o.Threshold) || bad(o.MedoidThreshold) {
		return o, errors.New("groups: thresholds must be cosine similarities in [-1, 1]")
	}
	return o, nil
}

// computer holds one Compute's state.
type computer struct {
	ids  []string
	vecs []float32
	dims int
	opts Options
	adj  [][]edge   // accepted links, both directions
	out  []accepted // final groups
	st   Stats
}

// link keeps the mutual links at or above the threshold that the catalog
// constraints allow and, with Options.Verify, that the verifier confirms.
func (c *computer) link(index map[string]int32, lists [][]neighbors.Neighbor) error {
	// Finding the mutual pairs only reads: spread it over the cores. The
	// catalog constraints run after, on one goroutine, as Same and Apart
	// need not be safe for concurrent use.
	cand := make([][]edge, len(c.ids))
	parallel.For(len(c.ids), runtime.GOMAXPROCS(0), func(i int) {
		for _, n := range lists[i] {
			if n.Similarity < c.opts.Threshold {
				continue // before the lookup: most entries stop here
			}
			j, ok := index[n.ID]
			if ok && int(j) > i && contains(lists[j], c.ids[i]) {
				cand[i] = append(cand[i], edge{j, n.Similarity}) // each pair once, from its smaller row
			}
		}
	})
	type link struct {
		from int32
		edge
	}
	var links []link
	for i, es := range cand {
		for _, e := range es {
			if c.allowed(c.ids[i], c.ids[e.to]) {
				links = append(links, link{int32(i), e})
			}
		}
	}
	c.st.Candidates = len(links)
	if c.opts.Verify != nil && len(links) > 0 {
		c.st.Verified = true
		pairs := make([][2]string, len(links))
		for t, l := range links {
			pairs[t] = [2]string{c.ids[l.from], c.ids[l.to]}
		}
		same, err := c.opts.Verify(pairs)
		if err != nil {
			return fmt.Errorf("groups: verify %d candidate links: %w", len(pairs), err)
		}
		if len(same) != len(pairs) {
			return fmt.Errorf("groups: the verifier answered %d of %d candidate links", len(same), len(pairs))
		}
		kept := links[:0]
		for t, l := range links {
			if same[t] {
				kept = append(kept, l)
			}
		}
		links = kept
	}
	c.adj = make([][]edge, len(c.ids))
	for _, l := range links {
		c.adj[l.from] = append(c.adj[l.from], l.edge)
		c.adj[l.to] = append(c.adj[l.to], edge{l.from, l.w})
	}
	c.st.Links = len(links)
	c.st.Rejected = c.st.Candidates - c.st.Links
	return nil
}

// edge is one accepted link: the other row and the pair's similarity.
type edge struct {
	to int32
	w  float32
}

func contains(list []neighbors.Neighbor, id string) bool {
	for _, n := range list {
		if n.ID == id {
			return true
		}
	}
	return false
}

func (c *computer) allowed(a, b string) bool {
	if c.opts.Same != nil && c.opts.Same(a) != c.opts.Same(b) {
		return false
	}
	if c.opts.Apart != nil {
		x, y := c.opts.Apart(a), c.opts.Apart(b)
		if x != "" && y != "" && x != y {
			return false
		}
	}
	return true
}

// dot is the cosine similarity of rows i and j (unit vectors).
func (c *computer) dot(i, j int32) float32 {
	return neighbors.Dot(c.vecs[int(i)*c.dims:int(i+1)*c.dims], c.vecs[int(j)*c.dims:int(j+1)*c.dims])
}

// truncate rounds toward zero to 4 decimals, like neighbour similarities.
func truncate(s float32) float32 {
	return float32(math.Trunc(float64(s)*10000) / 10000)
}

// idLess orders rows by product id.
func (c *computer) idLess(a, b int32) int { return strings.Compare(c.ids[a], c.ids[b]) }
