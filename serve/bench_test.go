package serve

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// benchProducts is the catalog size the service targets are stated for.
const benchProducts = 10_000

// latencies summarises one series of request times.
type latencies []time.Duration

func (l latencies) pct(p float64) time.Duration {
	s := slices.Clone(l)
	slices.Sort(s)
	return s[min(len(s)-1, int(math.Ceil(p*float64(len(s))))-1)]
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// BenchmarkServeVsRawParts measures, in one run on the same machine, the raw
// parts of a search by photo — the model card's recipe on pre-made tensors
// (the first pass and, for photos the focus step crops, the crop pass; one
// model call each) and one kNN request sent straight to Elasticsearch with
// net/http — against the whole service over HTTP on loopback, with the e2e
// photos as raw image/jpeg bodies. It also times one bare whole-image
// inference, what the text names, and reports every ratio against
// both. The machine is shared and noisy, so measurements are paired: at 1
// client every round times the recipe, a bare inference, a raw kNN, a service
// request and a decode back to back, in an order that rotates; at 4 and 16
// clients the raw sequential throughputs (recipe and bare) are measured right
// before and after each load, the levels alternate (ESSYNC_BENCH_REPEATS times
// each) and medians are reported with the load average, the passes per model
// call and where a search's time goes inside the service. Every loop is bounded. Knobs:
// ESSYNC_BENCH_ROUNDS, _REQUESTS, _RAW_BURST, _REPEATS, _MAX_BATCH, _DECODE
// (photos decoded at once), _ORT_THREADS, _BATCH_WAIT_US, _PRODUCTS (smoke runs
// only), _LEVELS (client counts after the 1-client rounds, default "4,16";
// "none" for 1 client only), _ALT_BATCH with _ALT_WAIT_US and _ALT_THREADS (an A/B: a second server
// with that max batch, batch wait, and its own session with that many ORT
// threads takes the same load inside the same raw brackets), _MIX=1 and
// _ALT_MIX=1 (Config.MixPasses: batch single passes), _ES_PID (the node whose
// CPU time is read; default: scripts/es-node's pid file for ESSYNC_ES_URL's
// port). Run with -benchtime 1x:
//
//	go test -run '^$' -bench ServeVsRawParts -benchtime 1x -timeout 30m ./serve/
func BenchmarkServeVsRawParts(b *testing.B) {
	needORT(b)
	emb, err := defaultEmbedder()
	if n := envInt("ESSYNC_BENCH_ORT_THREADS", 0); n > 0 && err == nil {
		emb.Close()
		card, _ := embed.LoadCardOrDefault("")
		emb, err = embed.New(card, embed.Options{IntraOpThreads: n})
	}
	if err != nil {
		b.Fatal(err)
	}
	defer emb.Close()
	alias, photos := loadSyntheticIndex(b, emb, envInt("ESSYNC_BENCH_PRODUCTS", benchProducts))
	es, err := esindex.NewClient(esindex.Config{URLs: []string{estest.URL()}, IdleConnsPerHost: 64})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Config{ES: es, Alias: alias, Embedder: emb, MaxBatch: envInt("ESSYNC_BENCH_MAX_BATCH", 0),
		DecodeLimit: envInt("ESSYNC_BENCH_DECODE", 0), BatchWait: envMicros("ESSYNC_BENCH_BATCH_WAIT_US"),
		MixPasses: os.Getenv("ESSYNC_BENCH_MIX") == "1"})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	hs := httptest.NewServer(srv)
	defer hs.Close()
	rounds := envInt("ESSYNC_BENCH_ROUNDS", 200)     // paired rounds at 1 client
	requests := envInt("ESSYNC_BENCH_REQUESTS", 320) // service requests per concurrency level
	rawBurst := envInt("ESSYNC_BENCH_RAW_BURST", 60) // raw inferences before and after each level
	repeats := envInt("ESSYNC_BENCH_REPEATS", 3)     // runs of each concurrency level, interleaved
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}
	searchURL := hs.URL + "/v1/search?k=10"
	// With ESSYNC_BENCH_ALT_BATCH=n a second server on the same model, with
	// MaxBatch n, takes the same load right after the first inside the same
	// raw brackets: an A/B of the batch size under the same machine load.
	altURL := ""
	if n := envInt("ESSYNC_BENCH_ALT_BATCH", 0); n > 0 {
		altEmb := emb
		if t := envInt("ESSYNC_BENCH_ALT_THREADS", 0); t > 0 { // its own session with t intra-op threads
			card, _ := embed.LoadCardOrDefault("")
			if altEmb, err = embed.New(card, embed.Options{IntraOpThreads: t}); err != nil {
				b.Fatal(err)
			}
			defer altEmb.Close()
		}
		alt, err := New(Config{ES: es, Alias: alias, Embedder: altEmb, MaxBatch: n, DecodeLimit: envInt("ESSYNC_BENCH_DECODE", 0),
			BatchWait: envMicros("ESSYNC_BENCH_ALT_WAIT_US"), MixPasses: os.Getenv("ESSYNC_BENCH_ALT_MIX") == "1"})
		if err != nil {
			b.Fatal(err)
		}
		defer alt.Close()
		alths := httptest.NewServer(alt)
		defer alths.Close()
		altURL = alths.URL + "/v1/search?k=10"
	}
	altRatios := map[int][]float64{}
	var altTput float64
	runAlt := func(clients, rep int) {
		altLat, altFailures, altElapsed := loadService(b, client, altURL, photos, clients, requests/clients)
		if altFailures > 0 {
			b.Errorf("%d requests failed at %d clients (alternative batch size)", altFailures, clients)
		}
		altTput = float64(len(altLat)) / altElapsed.Seconds()
		b.Logf("%2d clients, repeat %d, alternative max batch (ran %s): p50 %.1f ms p99 %.1f ms, %.1f req/s",
			clients, rep+1, map[bool]string{true: "first", false: "second"}[rep%2 == 1], msf(altLat.pct(0.5)), msf(altLat.pct(0.99)), altTput)
	}

	// The raw parts of a query's embedding are the model card's recipe on
	// pre-made tensors: the first pass and, when the focus step crops that
	// photo, the crop pass (tensors made once here, as the service makes them).
	// "Bare" is one whole-image inference, what the text says literally.
	tensors := make([][]float32, len(photos))
	recipes := make([][]embed.Pass, len(photos))
	knnBodies := make([][]byte, len(photos))
	knnNoSource := make([][]byte, len(photos)) // the same search without the hits' fields
	cropping := 0
	var queryVecs [][]float32
	for i, p := range photos {
		if tensors[i], err = emb.Tensor("q", p); err != nil {
			b.Fatal(err)
		}
		query, err := emb.Prepare("q", p)
		if err != nil {
			b.Fatal(err)
		}
		state, pass := emb.Start(query)
		for more := true; more; {
			recipes[i] = append(recipes[i], pass)
			res, err := emb.RunPasses([]embed.Pass{pass})
			if err != nil {
				b.Fatal(err)
			}
			pass, more = emb.Advance(state, res[0])
		}
		vec, err := state.Result()
		if err != nil {
			b.Fatal(err)
		}
		if len(recipes[i]) > 1 {
			cropping++
		}
		queryVecs = append(queryVecs, vec)
		// The body the service sends for k=10, posted straight to Elasticsearch.
		knnBodies[i], _ = json.Marshal(map[string]any{
			"knn":  map[string]any{"field": "image_vector", "query_vector": vec, "k": 10, "num_candidates": 100},
			"size": 10, "track_total_hits": false, "_source": map[string]any{"excludes": hitExcludes},
		})
		knnNoSource[i], _ = json.Marshal(map[string]any{
			"knn":  map[string]any{"field": "image_vector", "query_vector": vec, "k": 10, "num_candidates": 100},
			"size": 10, "track_total_hits": false, "_source": false,
		})
	}
	b.Logf("recipe: %d of %d photos get a crop pass (%.2f passes a photo)", cropping, len(photos), 1+float64(cropping)/float64(len(photos)))
	rawInfer := func(i int) time.Duration { // one bare single-image inference
		t0 := time.Now()
		if _, _, err := emb.InferTensors(tensors[i%len(tensors) : i%len(tensors)+1]); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	rawRecipe := func(i int) time.Duration { // the recipe's passes, one model call each, back to back
		t0 := time.Now()
		for _, pass := range recipes[i%len(recipes)] {
			if _, err := emb.RunPasses([]embed.Pass{pass}); err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(t0)
	}
	knnURL := strings.TrimRight(estest.URL(), "/") + "/" + alias + "/_search"
	timed := func(what, url, ctype string, body []byte) time.Duration {
		t0 := time.Now()
		if err := postDrained(client, url, ctype, body); err != nil {
			b.Fatalf("%s: %v", what, err)
		}
		return time.Since(t0)
	}
	rawKNN := func(i int) time.Duration {
		return timed("raw kNN", knnURL, "application/json", knnBodies[i%len(knnBodies)])
	}
	service := func(i int) time.Duration {
		return timed("service", searchURL, "image/jpeg", photos[i%len(photos)])
	}
	for i := range 20 { // warm-up: HNSW graph into the page cache, connections, ORT arenas
		rawInfer(i)
		rawRecipe(i)
		rawKNN(i)
		service(i)
	}

	// What fetching the hits' catalog fields costs Elasticsearch: the same
	// kNN with "_source": false, alternating with the service's body.
	{
		var with, without latencies
		for i := range 60 {
			with = append(with, rawKNN(i))
			without = append(without, timed("raw kNN without _source", knnURL, "application/json", knnNoSource[i%len(knnNoSource)]))
		}
		b.Logf("raw kNN p50 with the hits' _source (the service's body) %.2f ms, with \"_source\": false %.2f ms (60 alternating rounds, load %s)",
			msf(with.pct(0.5)), msf(without.pct(0.5)), loadAverage())
	}

	measureESCPU(b, client, alias, queryVecs)

	prepare := func(i int) time.Duration { // decode + resize of the query photo, part of the service's overhead
		t0 := time.Now()
		if _, err := emb.Prepare("q", photos[i%len(photos)]); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}

	// 1 client, paired rounds.
	var ort, bare, knn, svc, prep, rest latencies
	var ratios, bareRatios []float64
	var parts pairedParts
	alone0 := srv.queue.alone.Load()
	var svcTotal time.Duration
	st0 := stagesOf(b, srv)
	for i := range rounds {
		// The order rotates every round so no part always runs right after another (warm caches, GC debt).
		var o, ob, k, sv, p time.Duration
		for j := range 5 {
			switch (i + j) % 5 {
			case 0:
				o = rawRecipe(i)
			case 1:
				k = rawKNN(i)
			case 2:
				before := stagesOf(b, srv)
				sv = service(i)
				parts.add(before, stagesOf(b, srv), sv)
			case 3:
				p = prepare(i)
			case 4:
				ob = rawInfer(i)
			}
		}
		ort, bare, knn, svc, prep = append(ort, o), append(bare, ob), append(knn, k), append(svc, sv), append(prep, p)
		ratios = append(ratios, float64(sv)/float64(o+k))
		bareRatios = append(bareRatios, float64(sv)/float64(ob+k))
		parts.pair(o, k)
		rest = append(rest, sv-o-k) // everything the service adds to the raw parts
		svcTotal += sv
	}
	st1 := stagesOf(b, srv)
	slices.Sort(ratios)
	slices.Sort(bareRatios)
	rawP50 := ort.pct(0.5) + knn.pct(0.5)
	b.Logf("1 client (load %s at the end), %d paired rounds: raw recipe ORT p50 %.1f ms (bare one inference %.1f ms), raw kNN p50 %.1f ms (sum %.1f ms); service p50 %.1f ms p95 %.1f ms p99 %.1f ms, %.1f req/s",
		loadAverage(), rounds, msf(ort.pct(0.5)), msf(bare.pct(0.5)), msf(knn.pct(0.5)), msf(rawP50), msf(svc.pct(0.5)), msf(svc.pct(0.95)), msf(svc.pct(0.99)),
		float64(rounds)/svcTotal.Seconds())
	b.Logf("1 client: TARGET median of paired service/(recipe ORT + kNN) = %.3f; literal median of paired service/(bare ORT + kNN) = %.3f; service p50 / sum of raw p50s = %.3f; p99/p50 %.2f",
		ratios[len(ratios)/2], bareRatios[len(bareRatios)/2], float64(svc.pct(0.5))/float64(rawP50), float64(svc.pct(0.99))/float64(svc.pct(0.5)))
	b.Logf("1 client: preparing the query photo (decode + first resize) alone p50 %.2f ms (%.1f%% of the raw parts); median of paired service − (recipe ORT + kNN) = %.2f ms",
		msf(prep.pct(0.5)), 100*float64(prep.pct(0.5))/float64(rawP50), msf(rest.pct(0.5)))
	b.Logf("1 client: inside the service, per search: %s", st1.breakdown(st0))
	b.Logf("1 client: %s; %d of %d searches ran the model in their own goroutine (lone)", parts, srv.queue.alone.Load()-alone0, rounds)
	b.ReportMetric(msf(prep.pct(0.5)), "prep-p50-ms")
	b.ReportMetric(msf(ort.pct(0.5)), "ort-p50-ms")
	b.ReportMetric(msf(bare.pct(0.5)), "bare-p50-ms")
	b.ReportMetric(msf(knn.pct(0.5)), "knn-p50-ms")
	b.ReportMetric(msf(svc.pct(0.5)), "c1-p50-ms")
	b.ReportMetric(float64(svc.pct(0.5))/float64(rawP50), "c1-p50/raw")
	b.ReportMetric(ratios[len(ratios)/2], "c1-paired-ratio")
	b.ReportMetric(bareRatios[len(bareRatios)/2], "c1-paired-bare-ratio")

	// Raw single-image throughput, sequential, in the same process: photos
	// embedded by the recipe back to back (the target's baseline), and bare
	// single inferences.
	// recipeCPU is the process's CPU time per photo during the recipe burst,
	// in ms: against the service's CPU per search it gives a throughput
	// ratio that the machine's other load hardly moves (CPU time is not wall time).
	rawThroughput := func() (recipe, bare, recipeCPU float64) {
		cpu0 := stagesOf(b, srv).cpuSec
		t0 := time.Now()
		for i := range rawBurst {
			rawRecipe(i)
		}
		recipe = float64(rawBurst) / time.Since(t0).Seconds()
		recipeCPU = 1000 * (stagesOf(b, srv).cpuSec - cpu0) / float64(rawBurst)
		t0 = time.Now()
		for i := range rawBurst {
			rawInfer(i)
		}
		return recipe, float64(rawBurst) / time.Since(t0).Seconds(), recipeCPU
	}
	// Each concurrency level runs `repeats` times, interleaved with the other
	// levels (4, 16, 4, 16, …) so a change in the machine's load hits both;
	// every repeat is bracketed by raw bursts, and the medians are reported.
	type levelRun struct {
		tputRatio, bareRatio, p99p50, tput, raw, bare, knn float64
		cpuRatio                                           float64 // recipe CPU per photo / service CPU per search
		esSearch, esKNN                                    float64 // Elasticsearch CPU ms per service search / per raw kNN
		cpuRatioES                                         float64 // recipe CPU per photo / (service + Elasticsearch CPU per search)
		p50, p99                                           time.Duration
	}
	levels := envLevels("ESSYNC_BENCH_LEVELS", []int{4, 16}) // "none" = 1 client only
	runs := map[int][]levelRun{}
	batchesAt := map[int][]int64{}
	for rep := range repeats {
		for _, clients := range levels {
			load := loadAverage()
			before, bareBefore, cpuBefore := rawThroughput()
			if altURL != "" && rep%2 == 1 { // alternate which server goes first
				runAlt(clients, rep)
			}
			sizes0, st0, es0 := srv.queue.batchSizes(), stagesOf(b, srv), esCPUms(b)
			lat, failures, elapsed := loadService(b, client, searchURL, photos, clients, requests/clients)
			sizes1, st1, es1 := srv.queue.batchSizes(), stagesOf(b, srv), esCPUms(b)
			if altURL != "" && rep%2 == 0 {
				runAlt(clients, rep)
			}
			after, bareAfter, cpuAfter := rawThroughput()
			rawCPU := (cpuBefore + cpuAfter) / 2
			svcCPU := 1000 * (st1.cpuSec - st0.cpuSec) / max(st1.searches-st0.searches, 1)
			// The ceiling Elasticsearch sets on the same cores. If the model and
			// Elasticsearch each kept both cores busy alone, a search would cost
			// 1/raw + 1/knnTput seconds of the machine: the shared-cores estimate.
			es2 := esCPUms(b)
			knnTput := rawConcurrent(clients, requests, rawKNN)
			es3 := esCPUms(b)
			if failures > 0 {
				b.Errorf("%d requests failed at %d clients", failures, clients)
			}
			raw := (before + after) / 2
			r := levelRun{tput: float64(len(lat)) / elapsed.Seconds(), raw: raw, bare: (bareBefore + bareAfter) / 2, knn: knnTput, p50: lat.pct(0.5), p99: lat.pct(0.99)}
			r.tputRatio, r.bareRatio, r.p99p50 = r.tput/raw, r.tput/r.bare, float64(r.p99)/float64(r.p50)
			r.cpuRatio = rawCPU / svcCPU
			r.esSearch, r.esKNN = esCPUPer(es0, es1, len(lat)+failures), esCPUPer(es2, es3, requests/clients*clients)
			r.cpuRatioES = rawCPU / (svcCPU + r.esSearch)
			b.Logf("%2d clients, repeat %d: Elasticsearch (%s) CPU %.2f ms a search, %.2f ms a raw kNN; recipe CPU a photo / (service + Elasticsearch CPU a search) %.2f",
				clients, rep+1, estest.URL(), r.esSearch, r.esKNN, r.cpuRatioES)
			runs[clients] = append(runs[clients], r)
			if altURL != "" {
				altRatios[clients] = append(altRatios[clients], altTput/raw)
				b.Logf("%2d clients, repeat %d: throughput / raw ORT, default max batch %.2f, alternative %.2f", clients, rep+1, r.tputRatio, altTput/raw)
			}
			hist := make([]int64, len(sizes1))
			for i := range sizes1 {
				hist[i] = sizes1[i] - sizes0[i]
			}
			if batchesAt[clients] == nil {
				batchesAt[clients] = make([]int64, len(hist))
			}
			for i := range hist {
				batchesAt[clients][i] += hist[i]
			}
			b.Logf("%2d clients, repeat %d (load %s): %d requests (%d failed), p50 %.1f ms p95 %.1f ms p99 %.1f ms, %.1f req/s; "+
				"raw recipe ORT %.1f img/s (before %.1f, after %.1f), bare %.1f img/s; recipe %.1f ms CPU a photo, service %.1f ms CPU a search (ratio %.2f); TARGET throughput / raw recipe %.2f, / bare %.2f; p99/p50 %.2f; raw kNN alone %.1f req/s; "+
				"service / min(raw ORT, raw kNN) %.2f; service / shared-cores estimate %.2f; mean jobs per model call (photos; passes with _MIX) %.2f; %s; per search: %s",
				clients, rep+1, load, len(lat), failures, msf(r.p50), msf(lat.pct(0.95)), msf(r.p99), r.tput, raw, before, after, r.bare, rawCPU, svcCPU, r.cpuRatio,
				r.tputRatio, r.bareRatio, r.p99p50, knnTput, r.tput/min(raw, knnTput), r.tput*(1/raw+1/knnTput), meanBatch(hist), st1.since(st0), st1.breakdown(st0))
		}
	}
	for _, clients := range levels {
		med := func(f func(levelRun) float64) float64 {
			var v []float64
			for _, r := range runs[clients] {
				v = append(v, f(r))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		b.Logf("%2d clients, median of %d repeats: p50 %.1f ms, p99 %.1f ms, %.1f req/s, raw ORT %.1f img/s; "+
			"TARGET throughput / raw recipe ORT %.2f (/ bare inference %.2f); CPU-time ratio (recipe CPU a photo / service CPU a search) %.2f; p99/p50 %.2f; raw kNN alone %.1f req/s; jobs per model call 1..%d: %v (mean %.2f)",
			clients, len(runs[clients]), med(func(r levelRun) float64 { return msf(r.p50) }), med(func(r levelRun) float64 { return msf(r.p99) }),
			med(func(r levelRun) float64 { return r.tput }), med(func(r levelRun) float64 { return r.raw }),
			med(func(r levelRun) float64 { return r.tputRatio }), med(func(r levelRun) float64 { return r.bareRatio }),
			med(func(r levelRun) float64 { return r.cpuRatio }), med(func(r levelRun) float64 { return r.p99p50 }),
			med(func(r levelRun) float64 { return r.knn }), len(batchesAt[clients])-1, batchesAt[clients][1:], meanBatch(batchesAt[clients]))
		if alt := altRatios[clients]; len(alt) > 0 {
			slices.Sort(alt)
			b.Logf("%2d clients: alternative max batch, median throughput / raw ORT %.2f (of %v)", clients, alt[len(alt)/2], alt)
		}
		b.ReportMetric(med(func(r levelRun) float64 { return msf(r.p50) }), fmt.Sprintf("c%d-p50-ms", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return msf(r.p99) }), fmt.Sprintf("c%d-p99-ms", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.tput }), fmt.Sprintf("c%d-req/s", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.tputRatio }), fmt.Sprintf("c%d-tput/ort", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.bareRatio }), fmt.Sprintf("c%d-tput/bare", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.p99p50 }), fmt.Sprintf("c%d-p99/p50", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.cpuRatio }), fmt.Sprintf("c%d-cpu-ratio", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.knn }), fmt.Sprintf("c%d-knn-req/s", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.esSearch }), fmt.Sprintf("c%d-es-cpu-ms/search", clients))
		b.ReportMetric(med(func(r levelRun) float64 { return r.cpuRatioES }), fmt.Sprintf("c%d-cpu-ratio-with-es", clients))
	}
}
