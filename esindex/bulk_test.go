package esindex_test

import (
	"context"
	"fmt"
	"iter"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

func docs(n int) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		for i := range n {
			body := fmt.Sprintf(`{"product_id":"p-%04d","n":%d,"title":"product %d"}`, i, i, i)
			if !yield(esindex.Op{Action: "index", ID: fmt.Sprintf("p-%04d", i), Body: []byte(body)}) {
				return
			}
		}
	}
}

const testMapping = `{"mappings":{"dynamic":"strict","properties":{"product_id":{"type":"keyword"},"n":{"type":"long"},"title":{"type":"text"}}}}`

func TestBulkDeliversEveryDocumentExactlyOnceThroughFaults(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "bulkfaults")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	schedule := []estest.Fault{estest.Reject429, estest.DropBefore, estest.ItemRejections, estest.DropAfter, estest.None,
		estest.Reject429, estest.Reject429, estest.Reject429, estest.ItemRejections, estest.DropAfter, estest.DropBefore,
		estest.DropBefore, estest.DropBefore, estest.ItemRejections, estest.DropAfter, estest.Reject429}
	proxy := estest.NewFaultProxy(t, estest.URL(), schedule)
	client, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var progressed int
	res, err := esindex.Bulk(ctx, client, index, docs(n), esindex.BulkOptions{
		Workers: 2, FlushBytes: 4 << 10, RetryBase: 5 * time.Millisecond, GiveUpAfter: time.Minute,
		Progress: func(done int) { progressed = max(progressed, done) },
	})
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	if res.Succeeded != n || len(res.Failed) != 0 {
		t.Fatalf("succeeded %d failed %v, want %d and none", res.Succeeded, res.Failed, n)
	}
	if progressed != n {
		t.Errorf("progress reached %d, want %d", progressed, n)
	}
	if res.Retried == 0 || res.Rounds < 2 {
		t.Errorf("faults should have forced item retries: %+v", res)
	}
	for _, f := range []estest.Fault{estest.Reject429, estest.DropBefore, estest.DropAfter, estest.ItemRejections} {
		if proxy.Count(f) == 0 {
			t.Errorf("fault %d was never injected; the test did not exercise it", f)
		}
	}
	if err := esindex.Refresh(ctx, es, index); err != nil {
		t.Fatal(err)
	}
	got, err := esindex.Count(ctx, es, index)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("index holds %d documents, want exactly %d", got, n)
	}
	// Every id 0..n-1 is there once: the sum of n over all documents matches.
	sum := sumField(t, es, index)
	if want := n * (n - 1) / 2; sum != want {
		t.Fatalf("sum of n = %d, want %d: some document is missing or wrong", sum, want)
	}
}

func TestBulkReportsRefusedDocumentsAndLoadsTheRest(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "bulkrefused")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	ops := func(yield func(esindex.Op) bool) {
		for op := range docs(20) {
			if op.ID == "p-0007" {
				op.Body = []byte(`{"product_id":"p-0007","n":"not a number"}`)
			}
			if !yield(op) {
				return
			}
		}
		yield(esindex.Op{Action: "delete", ID: "never-existed"})
	}
	res, err := esindex.Bulk(ctx, es, index, ops, esindex.BulkOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Succeeded != 20 || len(res.Failed) != 1 {
		t.Fatalf("succeeded %d failed %+v; want 20 (19 docs + idempotent delete) and 1", res.Succeeded, res.Failed)
	}
	f := res.Failed[0]
	if f.ID != "p-0007" || f.Status != 400 || !strings.Contains(f.Reason, "parsing") {
		t.Errorf("failure = %+v, want p-0007 refused with a parsing reason", f)
	}
}

func TestBulkGivesUpAfterBoundedTimeWithClearError(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "bulkgiveup")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	always := make([]estest.Fault, 200)
	for i := range always {
		always[i] = estest.Reject429
	}
	proxy := estest.NewFaultProxy(t, estest.URL(), always)
	client, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, err = esindex.Bulk(ctx, client, index, docs(10), esindex.BulkOptions{RetryBase: time.Millisecond, GiveUpAfter: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "gave up") || !strings.Contains(err.Error(), "10 operations") {
		t.Fatalf("err = %v, want a give-up error naming the 10 failing operations", err)
	}
}

// TestBulkGiveUpBoundsStallsNotLongLoads: GiveUpAfter is a bound on the time
// without progress, so a healthy load that takes several times longer in
// all still finishes (a million documents take an hour, not five minutes).
// The load is slowed on purpose (the progress callback pauses after every
// document), so it outlasts the limit on any machine while progressing all
// the time. The limit is 3 s: a clean-clone CI run under -race once saw a
// single answer of the busy node take longer than the former 1.5 s.
func TestBulkGiveUpBoundsStallsNotLongLoads(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "bulklong")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	const n, limit, pause = 300, 3 * time.Second, 15 * time.Millisecond // 4.5 s of pauses alone
	start := time.Now()
	res, err := esindex.Bulk(ctx, es, index, docs(n), esindex.BulkOptions{
		Workers: 1, FlushBytes: 1 << 10, GiveUpAfter: limit,
		Progress: func(int) { time.Sleep(pause) },
	})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("bulk of %d documents over %s (give-up %s without progress): %v", n, took, limit, err)
	}
	if res.Succeeded != n {
		t.Fatalf("succeeded %d, want %d", res.Succeeded, n)
	}
	if took <= limit {
		t.Fatalf("the load took %s, not longer than the %s limit: the test shows nothing", took, limit)
	}
}

// TestBulkLowersItsRequestsInFlightWhenTheNodeRefusesItems: a node that
// answers with 429s gets fewer concurrent requests (leaving its write
// threads room for other writes, such as the run's lease), and every
// document still arrives exactly once.
func TestBulkLowersItsRequestsInFlightWhenTheNodeRefusesItems(t *testing.T) {
	es := estest.Client(t)
	index := estest.IndexName(t, "bulkbackoff")
	ctx := context.Background()
	if err := esindex.CreateIndex(ctx, es, index, []byte(testMapping)); err != nil {
		t.Fatal(err)
	}
	proxy := estest.NewFaultProxy(t, estest.URL(), []estest.Fault{estest.ItemRejections, estest.ItemRejections})
	client, err := esindex.NewClient(esindex.Config{URLs: []string{proxy.URL}, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300
	res, err := esindex.Bulk(ctx, client, index, docs(n), esindex.BulkOptions{Workers: 2, FlushBytes: 4 << 10, RetryBase: 5 * time.Millisecond})
	if err != nil {
		t.Fatalf("bulk: %v", err)
	}
	if res.Succeeded != n || len(res.Failed) != 0 {
		t.Fatalf("succeeded %d failed %v, want %d and none", res.Succeeded, res.Failed, n)
	}
	if proxy.Count(estest.ItemRejections) != 2 {
		t.Fatalf("item rejections injected %d times, want 2", proxy.Count(estest.ItemRejections))
	}
	if res.Throttled < 1 {
		t.Errorf("throttled %d times after two answers full of 429s, want at least once: %+v", res.Throttled, res)
	}
	if err := esindex.Refresh(ctx, es, index); err != nil {
		t.Fatal(err)
	}
	if got, err := esindex.Count(ctx, es, index); err != nil || got != n {
		t.Fatalf("index holds %d documents (err %v), want %d", got, err, n)
	}
}
