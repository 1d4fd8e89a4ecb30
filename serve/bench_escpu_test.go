package serve

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex/estest"
)

// esCPUms is the Elasticsearch node's process CPU time so far (user +
// system, from /proc/<pid>/stat: 10 ms ticks; the node's own
// _nodes/stats/process refreshes only once a second), or -1 when the node's
// process is unknown: ESSYNC_BENCH_ES_PID, or the pid file scripts/es-node
// writes for the port of ESSYNC_ES_URL. On a node other runs share it counts
// their work too: the benchmark logs which node it read.
func esCPUms(b *testing.B) float64 {
	b.Helper()
	pid := os.Getenv("ESSYNC_BENCH_ES_PID")
	if pid == "" {
		u, err := url.Parse(estest.URL())
		if err != nil {
			return -1
		}
		data, err := os.ReadFile(filepath.Join("..", ".cache", "es", "node-"+u.Port()+".pid"))
		if err != nil {
			return -1
		}
		pid = strings.TrimSpace(string(data))
	}
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return -1
	}
	// Fields after the command name (which may hold spaces): state is the
	// 3rd field of the line, utime and stime the 14th and 15th.
	rest := string(stat)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return -1
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return -1
	}
	return (utime + stime) * 10 // USER_HZ is 100 on Linux
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
// _source) sent alone, without the hits' _source (which Elasticsearch must
// parse, vector included, to filter), with its vector in 9 significant
// digits, with num_candidates 50 and 200, and eight at a time in
// one _msearch (what batching queued queries would send). Variants rotate in
// chunks of 48 queries, 4 chunks each, one client. Only a node of the
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
	single := func(nc int, source bool) func(i int) (int, error) {
		return func(i int) (int, error) {
			req := search(vecs[i%len(vecs)], nc)
			if !source {
				req["_source"] = false
			}
			body, _ := json.Marshal(req)
			return 1, postDrained(client, base+"/_search", "application/json", body)
		}
	}
	// The vector written as esindex.KNN writes it (9 significant digits with
	// an exponent) instead of encoding/json's shortest digits: does the
	// longer text cost Elasticsearch more to parse?
	nineDigits := func(i int) (int, error) {
		body, _ := json.Marshal(search(nil, 100))
		var vec []byte
		for j, v := range vecs[i%len(vecs)] {
			if j > 0 {
				vec = append(vec, ',')
			}
			vec = strconv.AppendFloat(vec, float64(v), 'e', 8, 32)
		}
		body = bytes.Replace(body, []byte(`"query_vector":null`), append(append([]byte(`"query_vector":[`), vec...), ']'), 1)
		return 1, postDrained(client, base+"/_search", "application/json", body)
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
		{"_search, num_candidates 100 (the service's)", single(100, true), 48},
		{"_search, num_candidates 100, \"_source\": false (no catalog fields)", single(100, false), 48},
		{"_search, num_candidates 100, vector in 9 significant digits", nineDigits, 48},
		{"_search, num_candidates 50", single(50, true), 48},
		{"_search, num_candidates 200", single(200, true), 48},
		{"_msearch of 8, num_candidates 100", msearch, 6},
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
	if cpu[0] <= 0 && cpu[2] <= 0 {
		b.Logf("Elasticsearch's CPU time is unknown (set ESSYNC_BENCH_ES_PID to the node's pid)")
		return
	}
	for k, v := range variants {
		b.Logf("Elasticsearch (%s) per kNN query, %s: %.2f ms CPU, %.2f ms wall (%d queries, load %s)", estest.URL(), v.name,
			cpu[k]/float64(queries[k]), float64(wall[k].Microseconds())/1000/float64(queries[k]), queries[k], loadAverage())
	}
}
