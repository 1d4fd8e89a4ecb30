package serve

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex/estest"
)

// esCPUms is the Elasticsearch node's process CPU time so far, in ms (from
// _nodes/_local/stats/process), or -1 when it cannot be read. On a node other
// runs share it counts their work too: the benchmark says which node it read.
func esCPUms(b *testing.B) float64 {
	b.Helper()
	res, err := http.Get(strings.TrimRight(estest.URL(), "/") + "/_nodes/_local/stats/process?filter_path=nodes.*.process.cpu.total_in_millis")
	if err != nil {
		b.Logf("reading Elasticsearch's CPU time: %v", err)
		return -1
	}
	defer res.Body.Close()
	var st struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					Total float64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil || len(st.Nodes) != 1 {
		b.Logf("reading Elasticsearch's CPU time: %v (%d nodes)", err, len(st.Nodes))
		return -1
	}
	for _, n := range st.Nodes {
		return n.Process.CPU.Total
	}
	return -1
}

// esCPUPer is the node's CPU ms per call between two readings (-1 unknown).
func esCPUPer(before, after float64, calls int) float64 {
	if before < 0 || after < 0 || calls == 0 {
		return -1
	}
	return (after - before) / float64(calls)
}

// measureESCPU reports what one kNN query of the service costs the
// Elasticsearch node in CPU time, the 16-client target's competitor for the
// same cores: the service's query (k 10, num_candidates 100, the hits'
// _source) sent alone, with num_candidates 50 and 200, and eight at a time in
// one _msearch (what batching queued queries would send). Variants rotate in
// chunks of 24 queries, 4 chunks each, one client. Only a node of the
// benchmark's own gives clean numbers (ESSYNC_ES_URL; the log names it).
func measureESCPU(b *testing.B, client *http.Client, alias string, vecs [][]float32) {
	b.Helper()
	base := strings.TrimRight(estest.URL(), "/") + "/" + alias
	search := func(v []float32, nc int) map[string]any {
		return map[string]any{
			"knn":  map[string]any{"field": "image_vector", "query_vector": v, "k": 10, "num_candidates": nc},
			"size": 10, "track_total_hits": false, "_source": map[string]any{"excludes": hitExcludes},
		}
	}
	single := func(nc int) func(i int) (int, error) {
		return func(i int) (int, error) {
			body, _ := json.Marshal(search(vecs[i%len(vecs)], nc))
			return 1, postDrained(client, base+"/_search", "application/json", body)
		}
	}
	msearch := func(i int) (int, error) {
		var body []byte
		for j := range 8 {
			line, _ := json.Marshal(search(vecs[(i*8+j)%len(vecs)], 100))
			body = append(append(append(body, "{}\n"...), line...), '\n')
		}
		return 8, postDrained(client, base+"/_msearch", "application/x-ndjson", body)
	}
	variants := []struct {
		name string
		call func(int) (int, error)
		per  int // calls per chunk
	}{
		{"_search, num_candidates 100 (the service's)", single(100), 24},
		{"_search, num_candidates 50", single(50), 24},
		{"_search, num_candidates 200", single(200), 24},
		{"_msearch of 8, num_candidates 100", msearch, 3},
	}
	cpu := make([]float64, len(variants))
	wall := make([]time.Duration, len(variants))
	queries := make([]int, len(variants))
	for chunk := range 4 {
		for j := range variants {
			k := (chunk + j) % len(variants)
			v := variants[k]
			c0, t0 := esCPUms(b), time.Now()
			for i := range v.per {
				n, err := v.call(chunk*v.per + i)
				if err != nil {
					b.Fatalf("%s: %v", v.name, err)
				}
				queries[k] += n
			}
			wall[k] += time.Since(t0)
			cpu[k] += esCPUms(b) - c0
		}
	}
	for k, v := range variants {
		b.Logf("Elasticsearch (%s) per kNN query, %s: %.2f ms CPU, %.2f ms wall (%d queries, load %s)", estest.URL(), v.name,
			cpu[k]/float64(queries[k]), float64(wall[k].Microseconds())/1000/float64(queries[k]), queries[k], loadAverage())
	}
}
