package serve

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// stages are running totals from the service's own metrics.
type stages struct {
	inferSec, inferCalls, images, knnSec, knnCalls, cpuSec float64
	stage, stageN                                          map[string]float64 // search stage seconds and counts, by stage
	searchSec, searches                                    float64            // /v1/search answered 200
}

// stagesOf reads the totals from the service's Prometheus registry.
func stagesOf(b *testing.B, srv *Server) stages {
	mfs, err := srv.metrics.reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	st := stages{stage: map[string]float64{}, stageN: map[string]float64{}}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "essync_inference_duration_seconds":
				st.inferSec, st.inferCalls = m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())
			case "essync_inference_batch_size":
				st.images = m.GetHistogram().GetSampleSum()
			case "essync_elasticsearch_duration_seconds":
				if len(m.GetLabel()) > 0 && m.GetLabel()[0].GetValue() == "knn" {
					st.knnSec, st.knnCalls = m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())
				}
			case "essync_search_stage_duration_seconds":
				st.stage[m.GetLabel()[0].GetValue()] = m.GetHistogram().GetSampleSum()
				st.stageN[m.GetLabel()[0].GetValue()] = float64(m.GetHistogram().GetSampleCount())
			case "essync_http_request_duration_seconds":
				var search, ok bool
				for _, l := range m.GetLabel() {
					search = search || (l.GetName() == "endpoint" && l.GetValue() == "search")
					ok = ok || (l.GetName() == "code" && l.GetValue() == "200")
				}
				if search && ok {
					st.searchSec, st.searches = m.GetHistogram().GetSampleSum(), float64(m.GetHistogram().GetSampleCount())
				}
			case "process_cpu_seconds_total":
				st.cpuSec = m.GetCounter().GetValue()
			}
		}
	}
	return st
}

// since describes what happened between two snapshots: model call time per
// call and per image, kNN time per call, and this process's CPU time per
// image (Go + ONNX Runtime threads; Elasticsearch runs in its own process).
func (st stages) since(old stages) string {
	calls, images, knn := st.inferCalls-old.inferCalls, st.images-old.images, st.knnCalls-old.knnCalls
	return fmt.Sprintf("model call %.1f ms (%.1f ms per job), kNN in service %.1f ms, process CPU %.1f ms per search",
		1000*(st.inferSec-old.inferSec)/max(calls, 1), 1000*(st.inferSec-old.inferSec)/max(images, 1),
		1000*(st.knnSec-old.knnSec)/max(knn, 1), 1000*(st.cpuSec-old.cpuSec)/max(st.searches-old.searches, 1))
}

// breakdown says where a search's time went between two snapshots, as
// means per search: the service's own stages, the kNN call, and the rest
// (HTTP, upload, JSON, handler) out of the whole handler time.
func (st stages) breakdown(old stages) string {
	n := max(st.searches-old.searches, 1)
	per := func(stage string) float64 { return 1000 * (st.stage[stage] - old.stage[stage]) / n }
	total := 1000 * (st.searchSec - old.searchSec) / n
	knn := 1000 * (st.knnSec - old.knnSec) / n
	rest := total - per("decode") - per("crop") - per("queue") - per("model") - knn
	return fmt.Sprintf("handler %.2f ms = decode %.2f + crop %.2f (%.2f crops a search) + queue wait %.2f + model %.2f + kNN %.2f + rest %.2f ms",
		total, per("decode"), per("crop"), (st.stageN["crop"]-old.stageN["crop"])/n, per("queue"), per("model"), knn, rest)
}

// meanBatch is the mean model-call size of a histogram indexed by batch size.
func meanBatch(hist []int64) float64 {
	var calls, images int64
	for n, c := range hist {
		calls += c
		images += int64(n) * c
	}
	return float64(images) / float64(max(calls, 1))
}

// loadAverage is the 1/5/15-minute load average, for the log ("?" when unknown).
func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// rawConcurrent runs n calls of f from clients goroutines and returns calls per second.
func rawConcurrent(clients, n int, f func(int) time.Duration) float64 {
	lat, _, elapsed := runClients(clients, n/clients, func(c, i int) error {
		f(c*1000 + i)
		return nil
	})
	return float64(len(lat)) / elapsed.Seconds()
}

// loadService runs clients goroutines, each sending perClient searches
// (bounded), and returns every successful request's latency.
func loadService(b *testing.B, client *http.Client, url string, photos [][]byte, clients, perClient int) (latencies, int, time.Duration) {
	b.Helper()
	return runClients(clients, perClient, func(c, i int) error {
		return postDrained(client, url, "image/jpeg", photos[(c*7+i)%len(photos)])
	})
}

// runClients runs clients goroutines making perClient calls each (bounded)
// and returns the successful calls' latencies, the failures and the time it took.
func runClients(clients, perClient int, call func(client, i int) error) (latencies, int, time.Duration) {
	var mu sync.Mutex
	var all latencies
	failures := 0
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make(latencies, 0, perClient)
			bad := 0
			for i := range perClient {
				t0 := time.Now()
				if err := call(c, i); err != nil {
					bad++
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			all = append(all, mine...)
			failures += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	return all, failures, time.Since(start)
}

// postDrained sends body to url and reads the whole answer (so the connection is
// reused); an answer other than 200 is an error.
func postDrained(client *http.Client, url, ctype string, body []byte) error {
	res, err := client.Post(url, ctype, bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if _, err := io.Copy(io.Discard, res.Body); err != nil {
		return err
	}
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s", url, res.Status)
	}
	return nil
}

// envMicros reads a duration in microseconds (negative allowed: "never"); 0 when unset.
func envMicros(name string) time.Duration {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err != nil {
		return 0
	}
	return time.Duration(v) * time.Microsecond
}

// envLevels reads a comma-separated list of client counts ("none" = empty).
func envLevels(name string, def []int) []int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		var n int
		if _, err := fmt.Sscan(f, &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func envInt(name string, def int) int {
	var v int
	if _, err := fmt.Sscan(os.Getenv(name), &v); err == nil && v > 0 {
		return v
	}
	return def
}

// pairedParts splits each 1-client service request into its stages (from the
// service's metrics, read right before and after the request) and pairs them
// with the raw parts timed in the same round, so the medians say where the
// service's overhead goes without mixing means and medians.
type pairedParts struct {
	decode, modelOver, knnOver, outside latencies
	pending                             [4]time.Duration
}

// add records one service request: decode, model stage minus nothing yet
// (paired later), kNN call, and the time outside the handler's stages.
func (p *pairedParts) add(before, after stages, total time.Duration) {
	sec := func(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
	dec := sec(after.stage["decode"] - before.stage["decode"])
	model := sec(after.stage["model"] - before.stage["model"] + after.stage["queue"] - before.stage["queue"] + after.stage["crop"] - before.stage["crop"])
	knn := sec(after.knnSec - before.knnSec)
	p.pending = [4]time.Duration{dec, model, knn, total - dec - model - knn}
}

// pair matches the last request with the round's raw recipe and raw kNN.
func (p *pairedParts) pair(recipe, knn time.Duration) {
	p.decode = append(p.decode, p.pending[0])
	p.modelOver = append(p.modelOver, p.pending[1]-recipe)
	p.knnOver = append(p.knnOver, p.pending[2]-knn)
	p.outside = append(p.outside, p.pending[3])
}

// String gives the medians, in ms.
func (p pairedParts) String() string {
	if len(p.decode) == 0 {
		return "no paired rounds"
	}
	return fmt.Sprintf("paired medians: decode + first resize %.2f ms; model stage (queue, crop tensors, passes) − raw recipe %.2f ms; "+
		"kNN call in the service − raw kNN %.2f ms; outside those stages (HTTP, upload, JSON, handler) %.2f ms",
		msf(p.decode.pct(0.5)), msf(p.modelOver.pct(0.5)), msf(p.knnOver.pct(0.5)), msf(p.outside.pct(0.5)))
}
