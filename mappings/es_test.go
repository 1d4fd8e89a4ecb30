package mappings_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
)

// call sends one request to the test server and returns status and body.
func call(t *testing.T, es *elasticsearch.Client, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := es.Perform(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// unit returns a unit vector of n dims with its weight on axis i.
func unit(n, i int) string {
	parts := make([]string, n)
	for j := range parts {
		parts[j] = "0"
	}
	parts[i%n] = "1"
	return "[" + strings.Join(parts, ",") + "]"
}

// Every index_options type Render accepts creates a real index that takes
// essync's documents, answers kNN and group_id queries, and maps catalog
// fields safely: float arrays stay floats, URLs are not indexed, date-like
// strings stay strings, and a malformed number does not reject the document.
func TestRenderOnRealElasticsearch(t *testing.T) {
	es := estest.Client(t)
	const dims = 128
	for _, typ := range mappings.IndexOptionTypes {
		t.Run(typ, func(t *testing.T) {
			index := estest.IndexName(t, "mappings")
			body, err := mappings.Render(mappings.Options{Dims: dims, Model: "test@1", IndexOptions: typ})
			if err != nil {
				t.Fatal(err)
			}
			if code, out := call(t, es, "PUT", "/"+index, string(body)); code != 200 {
				t.Fatalf("create index: %d %s", code, out)
			}
			doc := func(id string, axis int, price, released string) string {
				return fmt.Sprintf(`{"product_id":%q,"image_name":"a b.jpg","image_vector":%s,
					"group_id":"g-p-9",
					"essync":{"model":"test@1","image_sha256":"ab12","synced_at":"2026-11-28T10:00:00Z"},"model":"Air Max 90",
					"title":"Red shoe","price":%s,"qty":3,"url":"https://shop.example/a","imageURL":"https://shop.example/a.jpg",
					"released":%q,"embedding":%s,"seller":{"shop_url":"https://shop.example","name":"Shop"}}`,
					id, unit(dims, axis), price, released, strings.Replace(unit(200, 1), "1", "0.5", 1))
			}
			for _, d := range []struct{ id, body string }{
				{"p-1", doc("p-1", 0, "19.9", "2024-01-01")},
				{"p-2", doc("p-2", 1, `"cheap"`, "soon")}, // malformed price, non-date string
			} {
				if code, out := call(t, es, "PUT", "/"+index+"/_doc/"+d.id+"?refresh=true", d.body); code != 201 {
					t.Fatalf("index %s: %d %s", d.id, code, out)
				}
			}

			live := liveMappings(t, es, index)
			meta, err := mappings.ReadMeta(live)
			if err != nil || meta.Model != "test@1" || meta.Dims != dims || meta.IndexOptions != typ {
				t.Errorf("ReadMeta of the live index = %+v, %v", meta, err)
			}
			var props struct {
				Properties map[string]struct {
					Type       string `json:"type"`
					Index      *bool  `json:"index"`
					Properties map[string]struct {
						Type  string `json:"type"`
						Index *bool  `json:"index"`
					} `json:"properties"`
				} `json:"properties"`
			}
			if err := json.Unmarshal(live, &props); err != nil {
				t.Fatal(err)
			}
			p := props.Properties
			notIndexed := func(b *bool) bool { return b != nil && !*b }
			switch {
			case p["image_vector"].Type != "dense_vector":
				t.Errorf("image_vector mapped as %q", p["image_vector"].Type)
			case p["embedding"].Type != "double":
				t.Errorf("a 200-number catalog array (ints and decimals mixed) must stay a number, got %q", p["embedding"].Type)
			case p["url"].Type != "keyword" || !notIndexed(p["url"].Index):
				t.Errorf("url must be a keyword with index false: %+v", p["url"])
			case p["imageURL"].Type != "keyword" || !notIndexed(p["imageURL"].Index):
				t.Errorf("imageURL must be a keyword with index false: %+v", p["imageURL"])
			case p["seller"].Properties["shop_url"].Type != "keyword" || !notIndexed(p["seller"].Properties["shop_url"].Index):
				t.Errorf("seller.shop_url must be a keyword with index false: %+v", p["seller"])
			case p["released"].Type != "text":
				t.Errorf("date-like strings must stay text, got %q", p["released"].Type)
			case p["price"].Type != "double" || p["qty"].Type != "double":
				t.Errorf("price %q qty %q, want double: one numeric type, so 19 then 19.9 neither conflicts nor truncates", p["price"].Type, p["qty"].Type)
			}

			knn := fmt.Sprintf(`{"knn":{"field":"image_vector","query_vector":%s,"k":1,"num_candidates":10},"_source":false}`, unit(dims, 1))
			if _, out := call(t, es, "POST", "/"+index+"/_search", knn); !strings.Contains(out, `"_id":"p-2"`) {
				t.Errorf("kNN with p-2's vector does not return p-2: %s", out)
			}
			term := `{"query":{"term":{"group_id":"g-p-9"}},"_source":false}`
			if _, out := call(t, es, "POST", "/"+index+"/_search", term); !strings.Contains(out, `"total":{"value":2`) {
				t.Errorf("term query on group_id: %s", out)
			}
		})
	}
}

// The similar index takes essync's list documents and answers the two
// questions the web shop asks of it: a product's list by _id, and who
// lists a product by a term query on similar_pi, and (schema 4) the offer
// group's size beside the list. Its strict mapping refuses any other field
// and a group_size that is not a number, and its _meta names its product
// index.
func TestRenderSimilarOnRealElasticsearch(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "mappings-similar")
	body, err := mappings.RenderSimilar(mappings.Options{Dims: 8, Model: "test@1", K: 20}, "products-20261128-100000.000")
	if err != nil {
		t.Fatal(err)
	}
	if code, out := call(t, es, "PUT", "/"+index, string(body)); code != 200 {
		t.Fatalf("create index: %d %s", code, out)
	}
	for _, id := range []string{"p-1", "p-2"} {
		doc := fmt.Sprintf(`{"product_id":%q,"similar_pi":["p-9","p-3"],"similar":[{"pi":"p-9","similarity":0.93},{"pi":"p-3","similarity":0.5}],"group_id":"g-p-1","group_size":2}`, id)
		if code, out := call(t, es, "PUT", "/"+index+"/_doc/"+id+"?refresh=true", doc); code != 201 {
			t.Fatalf("index %s: %d %s", id, code, out)
		}
	}
	if code, out := call(t, es, "PUT", "/"+index+"/_doc/p-3", `{"product_id":"p-3","image_vector":[1,0]}`); code != 400 || !strings.Contains(out, "strict_dynamic_mapping_exception") {
		t.Errorf("a field the list documents do not have: %d %s, want refused by the strict mapping", code, out)
	}
	if code, out := call(t, es, "PUT", "/"+index+"/_doc/p-4", `{"product_id":"p-4","group_id":"g-p-4","group_size":"many"}`); code != 400 {
		t.Errorf("a group_size that is not a number: %d %s, want refused", code, out)
	}
	if _, out := call(t, es, "GET", "/"+index+"/_doc/p-1", ""); !strings.Contains(out, `"similar_pi":["p-9","p-3"]`) || !strings.Contains(out, `"group_size":2`) {
		t.Errorf("GET the list of p-1: %s", out)
	}
	term := `{"query":{"term":{"similar_pi":"p-9"}},"_source":false}`
	if _, out := call(t, es, "POST", "/"+index+"/_search", term); !strings.Contains(out, `"total":{"value":2`) {
		t.Errorf("term query on similar_pi: %s", out)
	}
	groupQuery := `{"query":{"bool":{"filter":[{"term":{"group_id":"g-p-1"}},{"range":{"group_size":{"gte":2}}}]}},"_source":false}`
	if _, out := call(t, es, "POST", "/"+index+"/_search", groupQuery); !strings.Contains(out, `"total":{"value":2`) {
		t.Errorf("group_id and group_size query: %s", out)
	}
	meta, err := mappings.ReadMeta(liveMappings(t, es, index))
	if err != nil || meta.Role != mappings.RoleSimilar || meta.Products != "products-20261128-100000.000" || meta.SchemaVersion != mappings.SchemaVersion || meta.K != 20 {
		t.Errorf("ReadMeta of the similar index = %+v, %v", meta, err)
	}
}

// liveMappings is index's mappings as the server stores them.
func liveMappings(t *testing.T, es *elasticsearch.Client, index string) json.RawMessage {
	t.Helper()
	_, out := call(t, es, "GET", "/"+index+"/_mapping", "")
	var m map[string]struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m[index].Mappings
}
