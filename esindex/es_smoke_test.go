package esindex_test

// Proof that the Elasticsearch the tests run against (scripts/es-node locally
// and in CI, or ESSYNC_ES_URL) serves every API essync relies on: kNN over
// 1280-d dense vectors, atomic alias swaps, bulk, point-in-time paging,
// partial updates, counts and live settings changes.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"

	"github.com/essync/essync/esindex/estest"
)

const smokeDims = 1280

// call runs an esapi request, fails the test on a transport error or a non-2xx
// answer, and decodes the JSON answer into out when out is non-nil.
func call(t *testing.T, what string, res *esapi.Response, err error, out any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s: read answer: %v", what, err)
	}
	if res.IsError() {
		t.Fatalf("%s: %s: %s", what, res.Status(), body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			t.Fatalf("%s: decode %s: %v", what, body, err)
		}
	}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("encode request: %v", err)
	}
	return bytes.NewReader(b)
}

// unitVectors returns n reproducible random unit vectors of smokeDims floats.
func unitVectors(n int, seed uint64) [][]float32 {
	rng := rand.New(rand.NewPCG(seed, 1))
	out := make([][]float32, n)
	for i := range out {
		v := make([]float32, smokeDims)
		var norm float64
		for j := range v {
			x := rng.NormFloat64()
			v[j] = float32(x)
			norm += x * x
		}
		norm = math.Sqrt(norm)
		for j := range v {
			v[j] = float32(float64(v[j]) / norm)
		}
		out[i] = v
	}
	return out
}

func createIndex(t *testing.T, es *elasticsearch.Client, name string, mapping map[string]any) {
	t.Helper()
	body := map[string]any{
		"settings": map[string]any{"number_of_shards": 1, "number_of_replicas": 0},
		"mappings": mapping,
	}
	res, err := es.Indices.Create(name, es.Indices.Create.WithBody(jsonBody(t, body)))
	call(t, "create index "+name, res, err, nil)
}

// bulkLoad indexes docs[i] under _id "p-<i>" in one _bulk call and refreshes.
func bulkLoad(t *testing.T, es *elasticsearch.Client, index string, docs []map[string]any) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for i, doc := range docs {
		_ = enc.Encode(map[string]any{"index": map[string]any{"_id": fmt.Sprintf("p-%d", i)}})
		if err := enc.Encode(doc); err != nil {
			t.Fatalf("encode doc %d: %v", i, err)
		}
	}
	var answer struct {
		Errors bool `json:"errors"`
		Items  []map[string]struct {
			Status int `json:"status"`
			Error  any `json:"error"`
		} `json:"items"`
	}
	res, err := es.Bulk(&buf, es.Bulk.WithIndex(index), es.Bulk.WithRefresh("true"))
	call(t, "bulk into "+index, res, err, &answer)
	if answer.Errors || len(answer.Items) != len(docs) {
		t.Fatalf("bulk into %s: errors=%v, %d items for %d docs: %+v", index, answer.Errors, len(answer.Items), len(docs), answer.Items[:min(3, len(answer.Items))])
	}
}

func count(t *testing.T, es *elasticsearch.Client, index string) int {
	t.Helper()
	var answer struct {
		Count int `json:"count"`
	}
	res, err := es.Count(es.Count.WithIndex(index))
	call(t, "count "+index, res, err, &answer)
	return answer.Count
}

type searchAnswer struct {
	Hits struct {
		Hits []struct {
			ID     string          `json:"_id"`
			Index  string          `json:"_index"`
			Score  float64         `json:"_score"`
			Sort   []any           `json:"sort"`
			Source json.RawMessage `json:"_source"`
		} `json:"hits"`
	} `json:"hits"`
	PitID string `json:"pit_id"`
}

func search(t *testing.T, es *elasticsearch.Client, index string, body map[string]any) searchAnswer {
	t.Helper()
	var answer searchAnswer
	opts := []func(*esapi.SearchRequest){es.Search.WithBody(jsonBody(t, body))}
	if index != "" {
		opts = append(opts, es.Search.WithIndex(index))
	}
	res, err := es.Search(opts...)
	call(t, "search "+index, res, err, &answer)
	return answer
}

// TestServerIsElasticsearch8 checks, with plain HTTP and no client-side
// product check in between, that the server answers GET / like a genuine
// Elasticsearch 8: the product header on the response and an 8.x version
// built on Lucene.
func TestServerIsElasticsearch8(t *testing.T) {
	estest.Client(t) // skips or fails (in CI) when no server answers
	res, err := http.Get(strings.TrimRight(estest.URL(), "/") + "/")
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	defer res.Body.Close()
	if got := res.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q, want Elasticsearch", got)
	}
	var banner struct {
		ClusterUUID string `json:"cluster_uuid"`
		Version     struct {
			Number        string `json:"number"`
			LuceneVersion string `json:"lucene_version"`
		} `json:"version"`
	}
	if err := json.NewDecoder(res.Body).Decode(&banner); err != nil {
		t.Fatalf("decode GET /: %v", err)
	}
	if !strings.HasPrefix(banner.Version.Number, "8.") || banner.Version.LuceneVersion == "" || banner.ClusterUUID == "" {
		t.Errorf("GET / = %+v, want an 8.x version with its Lucene version and a cluster UUID", banner)
	}
}

// TestKNNFindsQueryVectorFirst loads a few hundred random unit vectors and
// queries with some of them: each must come back first, with a score of a
// perfect match. It covers the similarity/index_options pairs essync can use.
func TestKNNFindsQueryVectorFirst(t *testing.T) {
	es := estest.Client(t)
	vectors := unitVectors(300, 42)
	docs := make([]map[string]any, len(vectors))
	for i, v := range vectors {
		docs[i] = map[string]any{"product_id": fmt.Sprintf("p-%d", i), "image_vector": v}
	}
	tests := []struct {
		similarity, indexType string
		perfect               float64 // _score of an identical vector
	}{
		{"cosine", "hnsw", 1},      // (1 + cos) / 2
		{"dot_product", "hnsw", 1}, // (1 + dot) / 2 for unit vectors
		{"cosine", "int8_hnsw", 1},
		{"dot_product", "int8_hnsw", 1},
	}
	for _, tc := range tests {
		t.Run(tc.similarity+"/"+tc.indexType, func(t *testing.T) {
			index := estest.IndexName(t, "knn")
			createIndex(t, es, index, map[string]any{"properties": map[string]any{
				"product_id": map[string]any{"type": "keyword"},
				"image_vector": map[string]any{
					"type": "dense_vector", "dims": smokeDims, "index": true,
					"similarity": tc.similarity, "index_options": map[string]any{"type": tc.indexType},
				},
			}})
			bulkLoad(t, es, index, docs)
			if n := count(t, es, index); n != len(docs) {
				t.Fatalf("count = %d, want %d", n, len(docs))
			}
			for _, q := range []int{0, 137, 299} {
				answer := search(t, es, index, map[string]any{
					"knn":     map[string]any{"field": "image_vector", "query_vector": vectors[q], "k": 10, "num_candidates": 100},
					"_source": []string{"product_id"},
				})
				hits := answer.Hits.Hits
				want := fmt.Sprintf("p-%d", q)
				if len(hits) != 10 || hits[0].ID != want {
					ids := make([]string, len(hits))
					for i, h := range hits {
						ids[i] = h.ID
					}
					t.Fatalf("knn for %s returned %v, want %s first of 10", want, ids, want)
				}
				if math.Abs(hits[0].Score-tc.perfect) > 0.01 || hits[1].Score >= hits[0].Score {
					t.Errorf("knn for %s: scores %.4f then %.4f, want %.2f then lower", want, hits[0].Score, hits[1].Score, tc.perfect)
				}
			}
		})
	}
}

func aliasTargets(t *testing.T, es *elasticsearch.Client, alias string) []string {
	t.Helper()
	var answer map[string]any
	res, err := es.Indices.GetAlias(es.Indices.GetAlias.WithName(alias))
	call(t, "get alias "+alias, res, err, &answer)
	var names []string
	for name := range answer {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func updateAliases(es *elasticsearch.Client, actions ...map[string]any) (*esapi.Response, error) {
	b, _ := json.Marshal(map[string]any{"actions": actions})
	return es.Indices.UpdateAliases(bytes.NewReader(b))
}

// TestAliasSwapIsAtomic moves an alias from one index to another with a single
// _aliases call, and shows that such a call is all-or-nothing: when one of its
// actions fails, the alias stays where it was.
func TestAliasSwapIsAtomic(t *testing.T) {
	es := estest.Client(t)
	alias := estest.IndexName(t, "products")
	oldIndex, newIndex := alias+"-old", alias+"-new"
	for _, ix := range []string{oldIndex, newIndex} {
		createIndex(t, es, ix, map[string]any{"properties": map[string]any{"generation": map[string]any{"type": "keyword"}}})
		bulkLoad(t, es, ix, []map[string]any{{"generation": ix}})
	}
	res, err := updateAliases(es, map[string]any{"add": map[string]any{"index": oldIndex, "alias": alias}})
	call(t, "point alias at old index", res, err, nil)

	// A failing action (removing the alias from an index it is not on, with
	// must_exist) must roll back the add in the same call.
	res, err = updateAliases(es,
		map[string]any{"add": map[string]any{"index": newIndex, "alias": alias}},
		map[string]any{"remove": map[string]any{"index": newIndex + "-missing", "alias": alias, "must_exist": true}},
	)
	if err != nil {
		t.Fatalf("failing _aliases call: %v", err)
	}
	res.Body.Close()
	if !res.IsError() {
		t.Fatalf("an _aliases call with a failing action answered %s, want an error", res.Status())
	}
	if got := aliasTargets(t, es, alias); !slices.Equal(got, []string{oldIndex}) {
		t.Fatalf("after a failed _aliases call the alias names %v, want only %s", got, oldIndex)
	}

	res, err = updateAliases(es,
		map[string]any{"remove": map[string]any{"index": oldIndex, "alias": alias}},
		map[string]any{"add": map[string]any{"index": newIndex, "alias": alias}},
	)
	call(t, "swap alias", res, err, nil)
	if got := aliasTargets(t, es, alias); !slices.Equal(got, []string{newIndex}) {
		t.Fatalf("after the swap the alias names %v, want exactly %s", got, newIndex)
	}
	answer := search(t, es, alias, map[string]any{"query": map[string]any{"match_all": map[string]any{}}})
	if len(answer.Hits.Hits) != 1 || answer.Hits.Hits[0].Index != newIndex {
		t.Fatalf("searching the alias after the swap returned %+v, want the one document of %s", answer.Hits.Hits, newIndex)
	}
}

// TestServerAPIsEssyncUses exercises the rest of what esindex relies on:
// live settings changes around a bulk load, partial updates, and reading a
// whole index back in pages with a point in time and search_after.
func TestServerAPIsEssyncUses(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "api")
	createIndex(t, es, index, map[string]any{"properties": map[string]any{
		"product_id": map[string]any{"type": "keyword"},
		"similar_pi": map[string]any{"type": "keyword"},
		"similar":    map[string]any{"type": "object", "enabled": false},
	}})

	setSettings := func(settings map[string]any) {
		res, err := es.Indices.PutSettings(jsonBody(t, map[string]any{"index": settings}), es.Indices.PutSettings.WithIndex(index))
		call(t, "put settings", res, err, nil)
	}
	setSettings(map[string]any{"refresh_interval": "-1", "number_of_replicas": 0})
	var got map[string]struct {
		Settings struct {
			Index struct {
				RefreshInterval string `json:"refresh_interval"`
			} `json:"index"`
		} `json:"settings"`
	}
	res, err := es.Indices.GetSettings(es.Indices.GetSettings.WithIndex(index))
	call(t, "get settings", res, err, &got)
	if ri := got[index].Settings.Index.RefreshInterval; ri != "-1" {
		t.Fatalf("refresh_interval = %q after setting it to -1", ri)
	}

	const n = 250
	docs := make([]map[string]any, n)
	for i := range docs {
		docs[i] = map[string]any{"product_id": fmt.Sprintf("p-%d", i), "similar_pi": []string{"p-x"}}
	}
	bulkLoad(t, es, index, docs) // refresh=true makes them visible despite refresh_interval -1
	setSettings(map[string]any{"refresh_interval": "1s"})

	res, err = es.Update(index, "p-7", jsonBody(t, map[string]any{"doc": map[string]any{
		"similar_pi": []string{"p-1", "p-2"},
		"similar":    []map[string]any{{"pi": "p-1", "similarity": 0.93}, {"pi": "p-2", "similarity": 0.9}},
	}}), es.Update.WithRefresh("true"))
	call(t, "partial update", res, err, nil)
	var doc struct {
		Source map[string]any `json:"_source"`
	}
	res, err = es.Get(index, "p-7")
	call(t, "get p-7", res, err, &doc)
	if doc.Source["product_id"] != "p-7" || fmt.Sprint(doc.Source["similar_pi"]) != "[p-1 p-2]" {
		t.Fatalf("after a partial update p-7 is %v, want product_id kept and similar_pi replaced", doc.Source)
	}

	// Page through everything with a point in time: every id exactly once.
	var pit struct {
		ID string `json:"id"`
	}
	res, err = es.OpenPointInTime([]string{index}, "1m")
	call(t, "open point in time", res, err, &pit)
	seen := map[string]int{}
	var after []any
	for page := 0; ; page++ {
		if page > n {
			t.Fatalf("paging did not end after %d pages", page)
		}
		body := map[string]any{
			"size": 40, "_source": false,
			"pit":  map[string]any{"id": pit.ID, "keep_alive": "1m"},
			"sort": []any{map[string]any{"_shard_doc": "asc"}},
		}
		if after != nil {
			body["search_after"] = after
		}
		answer := search(t, es, "", body)
		if len(answer.Hits.Hits) == 0 {
			break
		}
		for _, h := range answer.Hits.Hits {
			seen[h.ID]++
		}
		after = answer.Hits.Hits[len(answer.Hits.Hits)-1].Sort
		if answer.PitID != "" {
			pit.ID = answer.PitID
		}
	}
	res, err = es.ClosePointInTime(es.ClosePointInTime.WithBody(jsonBody(t, map[string]any{"id": pit.ID})))
	call(t, "close point in time", res, err, nil)
	if len(seen) != n {
		t.Fatalf("point-in-time paging saw %d distinct ids, want %d", len(seen), n)
	}
	for id, times := range seen {
		if times != 1 {
			t.Errorf("point-in-time paging returned %s %d times", id, times)
		}
	}
	if c := count(t, es, index); c != n {
		t.Errorf("_count = %d, want %d", c, n)
	}
}
