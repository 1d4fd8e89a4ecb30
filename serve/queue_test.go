package serve

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/essync/essync/embed"
)

// TestQueueBatchesQueries sends queries through the inference queue at
// once, as concurrent searches do, in both batching modes: each must get the
// vector EmbedBytes gives its photo alone (focus pass included) and the
// model calls must have held several jobs. Batching whole queries, a job is
// a query; mixing passes, a job is one pass, so the focus passes show as
// more jobs than queries and each made a crop.
func TestQueueBatchesQueries(t *testing.T) {
	emb, names, data, want := queuePhotos(t, 8)
	var err error
	for _, mix := range []bool{false, true} {
		t.Run(map[bool]string{false: "whole queries", true: "mixed passes"}[mix], func(t *testing.T) {
			var mu sync.Mutex
			stages := map[string]int{}
			q := newInferQueue(emb, 8, 8, 500*time.Millisecond, mix, nil, func(stage string, _ time.Duration) {
				mu.Lock()
				stages[stage]++
				mu.Unlock()
			})
			defer q.close()
			queries := make([]embed.Query, len(names))
			for i, name := range names {
				if queries[i], err = emb.Prepare(name, data[i]); err != nil {
					t.Fatal(err)
				}
				if !q.tryAcquire() {
					t.Fatal("queue full too early")
				}
			}
			got := make([][]float32, len(names))
			errs := make([]error, len(names))
			var wg sync.WaitGroup
			for i := range queries {
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer q.release()
					got[i], errs[i] = q.embed(context.Background(), queries[i])
				}()
			}
			wg.Wait()
			for i, name := range names {
				if errs[i] != nil {
					t.Fatalf("%s: %v", filepath.Base(name), errs[i])
				}
				if d := maxAbsDiff(got[i], want[i]); d > 1e-4 {
					t.Errorf("%s: queued vector differs from EmbedBytes by %g", filepath.Base(name), d)
				}
			}
			var calls, jobs int64
			for n, c := range q.batchSizes() {
				calls += c
				jobs += int64(n) * c
			}
			if calls >= jobs {
				t.Errorf("%d model calls for %d jobs: nothing was batched (sizes %v)", calls, jobs, q.batchSizes())
			}
			crops := int(jobs) - len(names)
			if !mix {
				crops = 0 // made inside InferQueries
				if jobs != int64(len(names)) {
					t.Errorf("%d jobs for %d whole queries", jobs, len(names))
				}
			} else if crops <= 0 {
				t.Errorf("%d passes for %d queries: no focus pass ran, the test proves nothing", jobs, len(names))
			}
			if stages["model"] != int(jobs) || stages["crop"] != crops {
				t.Errorf("stages observed %v, want model %d and crop %d", stages, jobs, crops)
			}
			if d := q.depth(); d != 0 {
				t.Errorf("depth %d after every query finished", d)
			}
		})
	}
}

func maxAbsDiff(a, b []float32) float64 {
	if len(a) != len(b) {
		return 1
	}
	var m float64
	for i := range a {
		d := float64(a[i] - b[i])
		m = max(m, d, -d)
	}
	return m
}

// TestLoneQueryRunsWithoutTheModelGoroutine: a query that holds the only
// slot runs the model in its own goroutine (no hand-off to wait for) and
// gets the same vector; while other queries hold slots, queries go through
// the model goroutine and are batched (TestQueueBatchesQueries).
func TestLoneQueryRunsWithoutTheModelGoroutine(t *testing.T) {
	emb, names, data, want := queuePhotos(t, 3)
	q := newInferQueue(emb, 4, 4, 0, false, nil, nil)
	defer q.close()
	for i, name := range names {
		query, err := emb.Prepare(name, data[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, others := range []int{0, 1} { // other queries holding a slot (being decoded)
			for range 1 + others {
				if !q.tryAcquire() {
					t.Fatal("queue full too early")
				}
			}
			before := q.alone.Load()
			got, err := q.embed(context.Background(), query)
			for range 1 + others {
				q.release()
			}
			if err != nil {
				t.Fatalf("%s: %v", filepath.Base(name), err)
			}
			if d := maxAbsDiff(got, want[i]); d > 1e-4 {
				t.Errorf("%s, %d others: vector differs from EmbedBytes by %g", filepath.Base(name), others, d)
			}
			if ran, wantAlone := q.alone.Load()-before, int64(1-others); ran != wantAlone {
				t.Errorf("query %d with %d other slots held: %d runs in the caller's goroutine, want %d", i, others, ran, wantAlone)
			}
		}
	}
	if n := q.batchSizes()[1]; n != 6 {
		t.Errorf("%d model calls of one query recorded, want 6 (sizes %v)", n, q.batchSizes())
	}
}

// queuePhotos returns the default model (closed at the end of the test), n
// e2e photos and the vector EmbedBytes gives each.
func queuePhotos(t *testing.T, n int) (*embed.Embedder, []string, [][]byte, [][]float32) {
	t.Helper()
	needORT(t)
	emb, err := defaultEmbedder()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { emb.Close() })
	names, _ := filepath.Glob(filepath.Join(e2eDir, "images", "*.jpg"))
	if len(names) < n {
		t.Fatalf("want %d photos in %s/images, found %d", n, e2eDir, len(names))
	}
	names = names[:n]
	data := make([][]byte, n)
	want := make([][]float32, n)
	for i, name := range names {
		if data[i], err = os.ReadFile(name); err != nil {
			t.Fatal(err)
		}
		if want[i], err = emb.EmbedBytes(name, data[i]); err != nil {
			t.Fatal(err)
		}
	}
	return emb, names, data, want
}
