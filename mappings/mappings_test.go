package mappings

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

// body is the part of Render's and RenderSimilar's output the tests look at.
type body struct {
	Settings struct {
		Index struct {
			Shards   int `json:"number_of_shards"`
			Replicas int `json:"number_of_replicas"`
		} `json:"index"`
	} `json:"settings"`
	Mappings struct {
		Meta struct {
			Essync Meta `json:"essync"`
		} `json:"_meta"`
		Dynamic          json.RawMessage              `json:"dynamic"` // true in the product index, "strict" in the similar one
		DateDetection    *bool                        `json:"date_detection"`
		DynamicTemplates []map[string]json.RawMessage `json:"dynamic_templates"`
		Properties       map[string]struct {
			Type         string `json:"type"`
			Dims         int    `json:"dims"`
			Index        *bool  `json:"index"`
			Enabled      *bool  `json:"enabled"`
			Similarity   string `json:"similarity"`
			IndexOptions struct {
				Type string `json:"type"`
			} `json:"index_options"`
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"properties"`
	} `json:"mappings"`
}

func TestRender(t *testing.T) {
	tests := []struct {
		name           string
		opts           Options
		dims           int
		similarity     string
		indexOptions   string
		shards, replic int
	}{
		{"defaults", Options{Dims: 1280, Model: "m@1"}, 1280, "dot_product", "hnsw", 1, 0},
		{"old pipeline mobilenet", Options{Dims: 1792, Model: "mobilenet@2", IndexOptions: "int8_hnsw", Replicas: 1}, 1792, "dot_product", "int8_hnsw", 1, 1},
		{"int4 even dims", Options{Dims: 4, Model: "tiny", IndexOptions: "int4_hnsw"}, 4, "dot_product", "int4_hnsw", 1, 0},
		{"flat cosine", Options{Dims: 1, Model: "m", IndexOptions: "flat", Similarity: "cosine", Shards: 3, Replicas: 2}, 1, "cosine", "flat", 3, 2},
		{"bbq at 64", Options{Dims: 64, Model: "m", IndexOptions: "bbq_hnsw"}, 64, "dot_product", "bbq_hnsw", 1, 0},
		{"max dims", Options{Dims: 4096, Model: "m", IndexOptions: "int8_flat", Similarity: "l2_norm"}, 4096, "l2_norm", "int8_flat", 1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid(out) {
				t.Fatalf("not valid JSON:\n%s", out)
			}
			var b body
			if err := json.Unmarshal(out, &b); err != nil {
				t.Fatal(err)
			}
			v := b.Mappings.Properties["image_vector"]
			if v.Type != "dense_vector" || v.Dims != tc.dims || v.Index == nil || !*v.Index ||
				v.Similarity != tc.similarity || v.IndexOptions.Type != tc.indexOptions {
				t.Errorf("image_vector = %+v", v)
			}
			if s := b.Settings.Index; s.Shards != tc.shards || s.Replicas != tc.replic {
				t.Errorf("settings = %+v, want shards %d replicas %d", s, tc.shards, tc.replic)
			}
			want := Meta{SchemaVersion: SchemaVersion, Model: tc.opts.Model, Dims: tc.dims, Similarity: tc.similarity, IndexOptions: tc.indexOptions, Generation: 1}
			if b.Mappings.Meta.Essync != want {
				t.Errorf("_meta.essync = %+v, want %+v", b.Mappings.Meta.Essync, want)
			}
		})
	}
}

// The fixed parts of the schema: field types the web app relies on, no
// date guessing, and dynamic templates that keep URLs out of the index and
// never turn a float array into a vector.
func TestRenderSchema(t *testing.T) {
	out, err := Render(Options{Dims: 8, Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	var b body
	if err := json.Unmarshal(out, &b); err != nil {
		t.Fatal(err)
	}
	for field, typ := range map[string]string{
		"product_id": "keyword", "image_name": "keyword", "group_id": "keyword",
	} {
		if got := b.Mappings.Properties[field].Type; got != typ {
			t.Errorf("%s type = %q, want %q", field, got, typ)
		}
	}
	// essync's bookkeeping lives under one object, apart from catalog fields.
	for field, typ := range map[string]string{"model": "keyword", "image_sha256": "keyword", "synced_at": "date"} {
		if got := b.Mappings.Properties["essync"].Properties[field].Type; got != typ {
			t.Errorf("essync.%s type = %q, want %q", field, got, typ)
		}
		if _, top := b.Mappings.Properties[field]; top {
			t.Errorf("%s is still mapped at the top level, where a catalog field of that name belongs", field)
		}
	}
	for name := range b.Mappings.Properties {
		if !slices.Contains(ReservedFields, name) && name != "image_vector" {
			t.Errorf("mapped top-level field %s is not in ReservedFields", name)
		}
	}
	for _, lists := range []string{"similar_pi", "similar", "group_size"} {
		if _, mapped := b.Mappings.Properties[lists]; mapped {
			t.Errorf("%s is mapped in the product index: it lives in the list document of the similar index (schema 3, 4)", lists)
		}
	}
	if b.Mappings.DateDetection == nil || *b.Mappings.DateDetection {
		t.Error("date_detection must be off: a date-looking string would break later documents")
	}
	var names []string
	for _, tmpl := range b.Mappings.DynamicTemplates {
		for name := range tmpl {
			names = append(names, name)
		}
	}
	got := strings.Join(names, " ")
	if want := "url_strings_not_indexed strings_as_text_and_keyword decimals_as_double_never_vectors integers_as_double_too"; got != want {
		t.Errorf("dynamic templates = %q, want %q (order matters: first match wins)", got, want)
	}
	var url struct {
		Mapping struct {
			Type  string `json:"type"`
			Index *bool  `json:"index"`
		} `json:"mapping"`
	}
	raw := b.Mappings.DynamicTemplates[0]["url_strings_not_indexed"]
	if err := json.Unmarshal(raw, &url); err != nil || url.Mapping.Type != "keyword" || url.Mapping.Index == nil || *url.Mapping.Index {
		t.Errorf("url template must map to a keyword with index: false: %s", raw)
	}
}

func TestRenderErrors(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		inErr string
	}{
		{"zero dims", Options{Model: "m"}, "dims 0 out of range"},
		{"too many dims", Options{Dims: 4097, Model: "m"}, "dims 4097 out of range"},
		{"unknown index options", Options{Dims: 8, Model: "m", IndexOptions: "ivf"}, `unknown index options type "ivf": use one of hnsw, int8_hnsw`},
		{"unknown similarity", Options{Dims: 8, Model: "m", Similarity: "jaccard"}, `unknown similarity "jaccard"`},
		{"int4 odd dims", Options{Dims: 7, Model: "m", IndexOptions: "int4_flat"}, "even number of dims"},
		{"bbq too small", Options{Dims: 32, Model: "m", IndexOptions: "bbq_flat"}, "at least 64 dims"},
		{"negative shards", Options{Dims: 8, Model: "m", Shards: -1}, "shards -1"},
		{"negative replicas", Options{Dims: 8, Model: "m", Replicas: -1}, "replicas -1"},
		{"no model", Options{Dims: 8, Model: " "}, "no model fingerprint"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render(tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.inErr) {
				t.Fatalf("Render error = %v (output %d bytes), want one containing %q", err, len(out), tc.inErr)
			}
		})
	}
}

func TestReadMetaAndCompatible(t *testing.T) {
	opts := Options{Dims: 16, Model: "m@abc", IndexOptions: "int8_hnsw", K: 20}
	out, err := Render(opts)
	if err != nil {
		t.Fatal(err)
	}
	var full struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal(out, &full); err != nil {
		t.Fatal(err)
	}
	meta, err := ReadMeta(full.Mappings)
	if err != nil {
		t.Fatal(err)
	}
	if meta.Model != "m@abc" || meta.Dims != 16 || meta.IndexOptions != "int8_hnsw" || meta.SchemaVersion != SchemaVersion || meta.K != 20 {
		t.Errorf("meta = %+v", meta)
	}
	tests := []struct {
		name  string
		opts  Options
		inErr string
	}{
		{"same", opts, ""},
		{"other index options is still compatible", Options{Dims: 16, Model: "m@abc"}, ""},
		{"other model", Options{Dims: 16, Model: "m@def"}, `model "m@abc", this run uses "m@def"`},
		{"other dims", Options{Dims: 32, Model: "m@abc"}, "16 dims, this run's model has 32"},
		{"other k", Options{Dims: 16, Model: "m@abc", K: 10}, "k=20 similar products, this run asks for -k 10"},
		{"bad options", Options{Model: "m@abc"}, "out of range"},
	}
	for _, tc := range tests {
		err := meta.Compatible(tc.opts)
		if (tc.inErr == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.inErr) {
			t.Errorf("%s: Compatible = %v, want %q", tc.name, err, tc.inErr)
		}
	}
	old := meta
	old.SchemaVersion = SchemaVersion + 1
	if err := old.Compatible(opts); err == nil || !strings.Contains(err.Error(), "schema version") {
		t.Errorf("schema mismatch not caught: %v", err)
	}

	for _, foreign := range []string{`{}`, `{"_meta":{"other":1}}`, `{"properties":{}}`} {
		if _, err := ReadMeta([]byte(foreign)); !errors.Is(err, ErrNotEssync) {
			t.Errorf("ReadMeta(%s) = %v, want ErrNotEssync", foreign, err)
		}
	}
	if _, err := ReadMeta([]byte(`{`)); err == nil || errors.Is(err, ErrNotEssync) {
		t.Errorf("ReadMeta(broken) = %v, want a JSON error", err)
	}
}
