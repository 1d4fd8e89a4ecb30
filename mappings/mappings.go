package mappings

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// productsJSON is the create-index body for the product index; Render fills
// in the parts that depend on the model and the cluster.
//
//go:embed products.json
var productsJSON []byte

// similarJSON is the create-index body for the similar index (one small
// list document per product, no vector); RenderSimilar fills it in.
//
//go:embed similar.json
var similarJSON []byte

// SchemaVersion is the version of the document schema in products.json.
// Bump it whenever a field changes meaning, so incremental runs refuse to
// update an index built with another schema.
// Version 2 moved essync's bookkeeping (model, image_sha256, synced_at)
// under the object field "essync" and reserved group_id/group_size.
// Version 3 moved similar_pi and similar out of the product document into
// the sibling similar index (see SimilarAlias), so a list change no longer
// re-indexes the product's vector.
// Version 4 moved group_size (and a copy of group_id) into the list
// document, so a regrouping that keeps group_id writes the small list
// document only; the product document keeps group_id, which the shop
// filters, collapses and aggregates on in its kNN request.
const SchemaVersion = 4

// ReservedFields are the top-level document fields essync writes (or
// reserves); a catalog field with one of these names would be overwritten,
// so a run refuses such a catalog unless the field is renamed. similar_pi,
// similar and group_size now live in the list document (schema 3 and 4)
// but stay reserved: a catalog field of that name in the product document
// would read as essync's to the shop.
var ReservedFields = []string{"product_id", "image_name", "image_vector", "similar_pi", "similar", "group_id", "group_size", "essync"}

// Similarities are the dense_vector similarity functions Elasticsearch 8
// knows. dot_product is the default: essync's vectors are unit length, so it
// equals cosine and is cheaper.
var Similarities = []string{"dot_product", "cosine", "l2_norm", "max_inner_product"}

// IndexOptionTypes are the dense_vector index_options types Elasticsearch
// 8.19 accepts for float vectors: HNSW graphs or flat (brute-force) storage,
// each raw or quantised to int8, int4 or one bit (bbq).
var IndexOptionTypes = []string{"hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat", "int4_flat", "bbq_flat"}

// MaxDims is the largest vector Elasticsearch 8 indexes.
const MaxDims = 4096

// minBBQDims is the smallest vector Elasticsearch accepts for bbq quantisation.
const minBBQDims = 64

// Options are the inputs of Render.
type Options struct {
	// Dims is the vector length, from the model card (1..4096).
	Dims int
	// Similarity is the kNN similarity; empty means "dot_product".
	Similarity string
	// IndexOptions is the index_options type; empty means "hnsw".
	IndexOptions string
	// Shards is the number of primary shards; 0 means 1.
	Shards int
	// Replicas is the number of replicas the finished index should have.
	Replicas int
	// Model is the model fingerprint (e.g. "efficientnet-lite0@1a2b3c4d"),
	// recorded in _meta so incremental runs can refuse a foreign index.
	Model string
	// K is the length of the similar lists, recorded so incremental runs
	// refuse to mix list lengths; 0 is not recorded.
	K int
}

// Meta is what essync records under mappings._meta.essync, so a later run
// can tell whether an index was built by essync with the same model and
// schema, whether it is complete, and whether an incremental run was
// interrupted. It is the one description of these keys.
type Meta struct {
	// SchemaVersion is the document schema version (see SchemaVersion).
	SchemaVersion int `json:"schema_version"`
	// Model is the model fingerprint the vectors were made with.
	Model string `json:"model"`
	// Dims is the vector length.
	Dims int `json:"dims"`
	// Similarity is the kNN similarity of image_vector.
	Similarity string `json:"similarity"`
	// IndexOptions is the index_options type of image_vector.
	IndexOptions string `json:"index_options"`
	// Role is "similar" on the similar index and empty on the product index.
	Role string `json:"role,omitempty"`
	// Products names, on the similar index, the concrete product index whose
	// lists it holds: the two go live, roll back and are pruned together.
	Products string `json:"products,omitempty"`
	// K is the length of the similar lists.
	K int `json:"k,omitempty"`
	// Complete is set once a full run loaded and verified the index, so
	// pruning and rollback never pick a half-built one.
	Complete bool `json:"complete"`
	// Documents is the document count at the last verified write.
	Documents int `json:"documents"`
	// Pending is set while an incremental run writes into the live index and
	// cleared when it has finished: a later run that finds it set knows the
	// stored neighbour lists may be half-updated and recomputes them all.
	Pending bool `json:"incremental_pending"`
	// Generation counts the writes into this index: a new index starts at
	// 1 and every incremental run that writes bumps it before its first
	// document write. A local state snapshot is trusted only when it was
	// written for the same index at the same generation, so a crash or
	// another writer leaves it stale, never wrongly trusted.
	Generation int64 `json:"generation"`
}

// FirstGeneration is the generation of a new index (see Meta.Generation).
const FirstGeneration = 1

// ErrNotEssync is returned (wrapped) by ReadMeta for an index without
// essync's _meta: it was not made by essync, or by a much older version.
var ErrNotEssync = errors.New("index was not created by essync")

// withDefaults returns o with empty fields set to their defaults, or an
// error naming the bad option and its allowed values.
func (o Options) withDefaults() (Options, error) {
	if o.Similarity == "" {
		o.Similarity = "dot_product"
	}
	if o.IndexOptions == "" {
		o.IndexOptions = "hnsw"
	}
	if o.Shards == 0 {
		o.Shards = 1
	}
	switch {
	case o.Dims < 1 || o.Dims > MaxDims:
		return o, fmt.Errorf("mappings: vector dims %d out of range 1..%d: check the model card's dims", o.Dims, MaxDims)
	case !slices.Contains(Similarities, o.Similarity):
		return o, fmt.Errorf("mappings: unknown similarity %q: use one of %s", o.Similarity, strings.Join(Similarities, ", "))
	case !slices.Contains(IndexOptionTypes, o.IndexOptions):
		return o, fmt.Errorf("mappings: unknown index options type %q: use one of %s", o.IndexOptions, strings.Join(IndexOptionTypes, ", "))
	case strings.HasPrefix(o.IndexOptions, "int4_") && o.Dims%2 != 0:
		return o, fmt.Errorf("mappings: %s needs an even number of dims, the model has %d: use int8_hnsw or hnsw", o.IndexOptions, o.Dims)
	case strings.HasPrefix(o.IndexOptions, "bbq_") && o.Dims < minBBQDims:
		return o, fmt.Errorf("mappings: %s needs at least %d dims, the model has %d: use int8_hnsw or hnsw", o.IndexOptions, minBBQDims, o.Dims)
	case o.Shards < 0:
		return o, fmt.Errorf("mappings: shards %d is negative: use 1 or more", o.Shards)
	case o.Replicas < 0:
		return o, fmt.Errorf("mappings: replicas %d is negative: use 0 or more", o.Replicas)
	case strings.TrimSpace(o.Model) == "":
		return o, errors.New("mappings: no model fingerprint given: it is recorded in the index so incremental runs can check it")
	}
	return o, nil
}

// Meta returns the _meta.essync record Render writes for these options
// (after defaults), so callers can compare it with an existing index.
func (o Options) Meta() (Meta, error) {
	o, err := o.withDefaults()
	if err != nil {
		return Meta{}, err
	}
	return Meta{SchemaVersion: SchemaVersion, Model: o.Model, Dims: o.Dims, Similarity: o.Similarity, IndexOptions: o.IndexOptions, K: o.K, Generation: FirstGeneration}, nil
}

// Render returns the full create-index body (settings and mappings) for the
// product index, with the vector field sized and configured from opts.
func Render(opts Options) ([]byte, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	meta, _ := o.Meta()
	body, err := fromTemplate(productsJSON, "products.json", o, meta)
	if err != nil {
		return nil, err
	}
	vector, err := object(body, "mappings", "properties", "image_vector")
	if err != nil {
		return nil, err
	}
	vector["dims"] = o.Dims
	vector["similarity"] = o.Similarity
	vector["index_options"] = map[string]any{"type": o.IndexOptions}
	out, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("mappings: encoding the index body: %w", err)
	}
	return append(out, '\n'), nil
}

// fromTemplate decodes an embedded create-index template (named file in
// messages) and fills in what every essync index sets the same way: shards,
// replicas and the _meta.essync record.
func fromTemplate(template []byte, file string, o Options, meta Meta) (map[string]any, error) {
	var body map[string]any
	dec := json.NewDecoder(bytes.NewReader(template))
	dec.UseNumber() // keep the template's numbers exactly as written
	if err := dec.Decode(&body); err != nil {
		return nil, fmt.Errorf("mappings: embedded %s is not valid JSON: %w", file, err)
	}
	index, err := object(body, "settings", "index")
	if err != nil {
		return nil, err
	}
	index["number_of_shards"] = o.Shards
	index["number_of_replicas"] = o.Replicas
	m, err := object(body, "mappings", "_meta")
	if err != nil {
		return nil, err
	}
	m["essync"] = meta
	return body, nil
}

// object walks nested JSON objects by key, failing clearly when the embedded
// template has lost a part Render fills in.
func object(v map[string]any, keys ...string) (map[string]any, error) {
	for i, k := range keys {
		next, ok := v[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("mappings: embedded mapping has no object at %s: restore it from version control",
				strings.Join(keys[:i+1], "."))
		}
		v = next
	}
	return v, nil
}

// ReadMeta extracts essync's record from an index's mappings object (the
// value under "mappings" in a GET <index>/_mapping response, or in Render's
// output). It wraps ErrNotEssync when the record is absent.
func ReadMeta(mappings []byte) (Meta, error) {
	var m struct {
		Meta struct {
			Essync *Meta `json:"essync"`
		} `json:"_meta"`
	}
	if err := json.Unmarshal(mappings, &m); err != nil {
		return Meta{}, fmt.Errorf("mappings: index mappings are not valid JSON: %w", err)
	}
	if m.Meta.Essync == nil || m.Meta.Essync.SchemaVersion == 0 {
		return Meta{}, fmt.Errorf("mappings: %w (no _meta.essync in its mappings): run a full sync to build an essync index", ErrNotEssync)
	}
	return *m.Meta.Essync, nil
}

// Compatible reports why an index with meta m cannot be updated in place by
// a run with the options o (nil when it can): a different model, vector size
// or schema needs a full sync.
func (m Meta) Compatible(o Options) error {
	want, err := o.Meta()
	if err != nil {
		return err
	}
	switch {
	case m.SchemaVersion != want.SchemaVersion:
		return fmt.Errorf("index has essync schema version %d, this essync writes %d: run a full sync", m.SchemaVersion, want.SchemaVersion)
	case m.Model != want.Model:
		return fmt.Errorf("index vectors come from model %q, this run uses %q: run a full sync", m.Model, want.Model)
	case m.Dims != want.Dims:
		return fmt.Errorf("index vectors have %d dims, this run's model has %d: run a full sync", m.Dims, want.Dims)
	case want.K != 0 && m.K != want.K:
		return fmt.Errorf("index lists hold k=%d similar products, this run asks for -k %d: run a full sync", m.K, want.K)
	}
	return nil
}
