package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/urfave/cli/v2"

	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/neighbors"
)

// groupsCommand prints the offer groups (the same product in several shops)
// from embedded vectors or from the live index.
func groupsCommand() *cli.Command {
	return &cli.Command{
		Name:  "groups",
		Usage: "list offer groups (the same product sold by several shops) as JSON or CSV",
		UsageText: "essync groups --vectors DIR [--catalog FILE --images DIR] [--fields price,shop] [--format csv]\n" +
			"essync groups --es-url URL [--index products] [--fields price,shop]\n" +
			"essync groups --es-url URL --stored [--index products] [--fields price,shop]",
		Description: `Two products are linked when their similarity is at least --group-threshold and each
is in the other's top-K; groups are the connected parts, split where a member is
less similar than --group-medoid-threshold to its group's medoid. --group-same brand
links only products with equal brands; --group-apart colour never groups products whose
colours differ. From --vectors (as written by essync embed) the top-K lists are computed
here; from --es-url the live index's similar lists and vectors are read.
With the images (--catalog and --images with --vectors, --images with --es-url),
every link must also be confirmed by the two images' layouts, as in essync full
(--group-verify=false turns that off); without them the layout check is off.
With --stored, nothing is computed: the groups the last sync stored are read from
the list documents of <index>-similar (group_id, group_size; no vectors), and
similarity_to_medoid is left empty.

CSV columns: group_id, size, product_id, similarity_to_medoid, then the --fields.`,
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "vectors", Usage: "folder with vectors.npy and ids.json from essync embed (or --es-url)"},
			&cli.PathFlag{Name: "catalog", Usage: "with --vectors: the catalog, for --fields, --group-same and --group-apart"},
			&cli.PathFlag{Name: "images", Usage: "with --catalog: the folder its image names are relative to; with --es-url: the folder the documents' image_name are relative to (for the layout check)"},
			&cli.StringFlag{Name: "id-field", Value: catalog.DefaultIDField, Usage: "catalog field holding the product id"},
			&cli.StringFlag{Name: "index", Value: "products", Usage: "with --es-url: the alias (or index) to read"},
			&cli.IntFlag{Name: "k", Value: 20, Usage: "with --vectors: neighbours per product"},
			&cli.StringFlag{Name: "fields", Usage: "comma-separated catalog fields to add to each row (e.g. price,shop)"},
			&cli.StringFlag{Name: "format", Value: "json", Usage: "json or csv"},
			&cli.IntFlag{Name: "min-size", Value: 2, Usage: "list groups of at least this many products (1: every product)"},
			&cli.PathFlag{Name: "out", Usage: "write here instead of standard output"},
			&cli.BoolFlag{Name: "stored", Usage: "with --es-url: print the groups the last sync stored in <index>-similar instead of computing them (reads no vectors)"},
		}, append(groupFlags(), esFlags()...)...),
		Action: runGroups,
	}
}

// groupInput is what groups are computed from, whichever the source.
type groupInput struct {
	ids    []string
	lists  [][]neighbors.Neighbor
	vecs   []float32
	dims   int
	fields map[string]map[string]json.RawMessage // product id -> catalog field -> raw JSON
	images map[string]string                     // product id -> image file name under root; nil: no images
	root   *os.Root                              // the images folder, for the layout check
	close  func()                                // releases mapped vectors and the images folder; nil when none
}

func runGroups(c *cli.Context) error {
	format := c.String("format")
	switch {
	case format != "json" && format != "csv":
		return cli.Exit(fmt.Sprintf("--format must be json or csv, got %q", format), exitUsage)
	case c.String("vectors") == "" && esConfig(c) == nil:
		return cli.Exit("give --vectors DIR or --es-url (see essync groups --help); --vectors wins when both are set", exitUsage)
	case c.Path("catalog") != "" && c.Path("images") == "":
		return cli.Exit("--catalog needs --images (the folder its image names are relative to)", exitUsage)
	case c.Int("k") < 1:
		return cli.Exit("--k must be at least 1", exitUsage)
	case c.Bool("stored") && (c.String("vectors") != "" || esConfig(c) == nil):
		return cli.Exit("--stored reads the groups stored in the index: give --es-url, not --vectors", exitUsage)
	}
	// Check the group flags before the (long) read; with --vectors, catalog
	// fields exist only with --catalog.
	var noFields func(string) map[string]json.RawMessage
	if c.String("vectors") == "" || c.Path("catalog") != "" {
		noFields = func(string) map[string]json.RawMessage { return nil }
	}
	if _, err := groupOptions(c, noFields); err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	var wanted []string
	for _, f := range strings.Split(c.String("fields"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			wanted = append(wanted, f)
		}
	}
	if len(wanted) > 0 && noFields == nil {
		return cli.Exit("--fields needs --catalog and --images with --vectors", exitUsage)
	}
	if c.Bool("stored") {
		return runStoredGroups(c, format, wanted)
	}
	var in *groupInput
	var err error
	if c.String("vectors") != "" {
		in, err = groupsFromVectors(c)
	} else {
		in, err = groupsFromIndex(c, wanted)
	}
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	if in.close != nil {
		defer in.close()
	}
	var fields func(string) map[string]json.RawMessage
	if in.fields != nil {
		fields = func(id string) map[string]json.RawMessage { return in.fields[id] }
	}
	opts, err := groupOptions(c, fields)
	if err != nil {
		return cli.Exit(err.Error(), exitUsage)
	}
	verifier, verifierState := groupsVerifier(c, in)
	if verifier != nil {
		opts.Verify = verifier.Verify
	}

	start := time.Now()
	res, err := groups.Compute(in.ids, in.lists, in.vecs, in.dims, opts)
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	took := time.Since(start)
	w, closeOut, err := groupsOutput(c)
	if err != nil {
		return err
	}
	defer closeOut()
	if err := writeGroups(w, format, computedGroups(res, c.Int("min-size"), wanted, in.fields), wanted); err != nil {
		return cli.Exit(fmt.Sprintf("write groups: %v", err), exitFailure)
	}
	st := res.Stats()
	fmt.Fprintf(os.Stderr, "groups: %d products, %d groups of 2 or more holding %d products (largest %d, %d splits), threshold %.4g, medoid threshold %.4g, verifier %s (%d of %d candidate links turned down), %.3fs\n",
		len(in.ids), st.Groups, st.GroupedProducts, st.Largest, st.Splits, st.Threshold, st.MedoidThreshold, verifierState, st.Rejected, st.Candidates, took.Seconds())
	return nil
}

// groupsFromVectors reads embed's output, computes the top-K lists and, with
// --catalog, the catalog fields.
func groupsFromVectors(c *cli.Context) (*groupInput, error) {
	ids, vecs, dims, closeVectors, err := readVectors(c.String("vectors"), "")
	if err != nil {
		return nil, err
	}
	g, err := neighbors.BuildContext(c.Context, ids, vecs, dims, neighbors.Options{K: c.Int("k"), Seed: 1})
	if err != nil {
		closeVectors()
		return nil, err
	}
	in := &groupInput{ids: ids, vecs: vecs, dims: dims, lists: make([][]neighbors.Neighbor, len(ids)), close: closeVectors}
	for i, id := range ids {
		in.lists[i] = g.Neighbors(id)
	}
	if path := c.Path("catalog"); path != "" {
		products, _, err := catalog.Read(path, catalog.Options{IDField: c.String("id-field"), ImagesDir: c.Path("images")})
		if err != nil {
			return nil, err
		}
		in.fields = make(map[string]map[string]json.RawMessage, len(products))
		in.images = make(map[string]string, len(products))
		for _, p := range products {
			in.fields[p.ID] = p.Fields
			in.images[p.ID] = p.ImageName
		}
		if err := in.openImages(c.Path("images")); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// groupsFromIndex reads every document's vector and the named fields from
// the live index, and every similar list from its similar index
// (alias-similar), each through one point-in-time scan.
func groupsFromIndex(c *cli.Context, wanted []string) (*groupInput, error) {
	es, err := esindex.NewClient(*esConfig(c))
	if err != nil {
		return nil, err
	}
	extra := append([]string(nil), wanted...)
	for _, f := range []string{c.String("group-same"), c.String("group-apart")} {
		if f != "" {
			extra = append(extra, f)
		}
	}
	source := append([]string{"image_vector", "image_name"}, extra...)
	in := &groupInput{fields: map[string]map[string]json.RawMessage{}, images: map[string]string{}}
	index := c.String("index")
	err = esindex.Scan(c.Context, es, index, source, 1000, func(d esindex.StoredDoc) error {
		var doc struct {
			Vector    []float32 `json:"image_vector"`
			ImageName string    `json:"image_name"`
		}
		if err := json.Unmarshal(d.Source, &doc); err != nil {
			return fmt.Errorf("%s document %s: %w", index, d.ID, err)
		}
		if in.dims == 0 {
			in.dims = len(doc.Vector)
		}
		if len(doc.Vector) == 0 || len(doc.Vector) != in.dims {
			return fmt.Errorf("%s document %s has an image_vector of %d dims, others %d: run essync full", index, d.ID, len(doc.Vector), in.dims)
		}
		var all map[string]json.RawMessage
		if err := json.Unmarshal(d.Source, &all); err != nil {
			return fmt.Errorf("%s document %s: %w", index, d.ID, err)
		}
		fields := make(map[string]json.RawMessage, len(extra))
		for _, f := range extra {
			if v, ok := all[f]; ok {
				fields[f] = v
			}
		}
		in.ids = append(in.ids, d.ID)
		in.vecs = append(in.vecs, doc.Vector...)
		in.lists = append(in.lists, nil)
		in.fields[d.ID] = fields
		in.images[d.ID] = doc.ImageName
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", index, err)
	}
	if len(in.ids) == 0 {
		return nil, fmt.Errorf("%s holds no documents: run essync full first", index)
	}
	if err := readIndexLists(c.Context, es, index, in); err != nil {
		return nil, err
	}
	if dir := c.Path("images"); dir != "" {
		if err := in.openImages(dir); err != nil {
			return nil, err
		}
	}
	return in, nil
}

// readIndexLists fills in.lists from the similar index of alias; a product
// without a list document keeps an empty list (it can then join no group).
func readIndexLists(ctx context.Context, es *elasticsearch.Client, alias string, in *groupInput) error {
	row := make(map[string]int, len(in.ids))
	for i, id := range in.ids {
		row[id] = i
	}
	lists := mappings.SimilarAlias(alias)
	err := esindex.Scan(ctx, es, lists, []string{"similar"}, 2000, func(d esindex.StoredDoc) error {
		doc, err := esindex.DecodeList(d.Source)
		if err != nil {
			return fmt.Errorf("%s list document %s: %w", lists, d.ID, err)
		}
		i, ok := row[d.ID]
		if !ok {
			return nil // an orphan list (essync verify reports it)
		}
		in.lists[i] = doc.Neighbors()
		return nil
	})
	if err != nil {
		return fmt.Errorf("read %s: %w", lists, err)
	}
	return nil
}

// openImages opens the images folder the layout check reads from.
func (in *groupInput) openImages(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("--images: %w", err)
	}
	in.root = root
	closeVectors := in.close
	in.close = func() {
		root.Close()
		if closeVectors != nil {
			closeVectors()
		}
	}
	return nil
}

// groupsVerifier is the layout check of candidate links when the images
// are at hand (as in essync full, without a cache: only the products on
// candidate links are decoded), and what to report about it.
func groupsVerifier(c *cli.Context, in *groupInput) (*embed.LayoutVerifier, string) {
	switch {
	case !c.Bool("group-verify"):
		return nil, "off (--group-verify=false)"
	case in.root == nil:
		return nil, "off (no images: pass --catalog and --images with --vectors, --images with --es-url)"
	}
	return &embed.LayoutVerifier{Read: func(id string) ([]byte, error) {
		name := in.images[id]
		if name == "" {
			return nil, fmt.Errorf("product %s has no image name", id)
		}
		return embed.ReadImageIn(in.root, filepath.FromSlash(name))
	}}, "layout"
}
