package pipeline_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
	"github.com/essync/essync/mappings"
	"github.com/essync/essync/pipeline"
)

// readCounter is a loopback proxy to the real node that counts the requests
// that read documents back (search, point in time, scroll).
type readCounter struct {
	URL   string
	reads atomic.Int64
}

func newReadCounter(t *testing.T) *readCounter {
	t.Helper()
	target, err := url.Parse(estest.URL())
	if err != nil {
		t.Fatal(err)
	}
	rc := &readCounter{}
	proxy := httputil.NewSingleHostReverseProxy(target)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; strings.Contains(p, "_search") || strings.Contains(p, "_pit") || strings.Contains(p, "_scroll") {
			rc.reads.Add(1)
		}
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	rc.URL = "http://" + ln.Addr().String()
	return rc
}

// snapshotConfig is e2eConfig on a private copy of the images (so the test
// may touch them), through a read counter.
func snapshotConfig(t *testing.T, alias string, rc *readCounter) pipeline.Config {
	t.Helper()
	cfg := e2eConfig(t, alias)
	images := filepath.Join(t.TempDir(), "images")
	if err := os.CopyFS(images, os.DirFS(cfg.Catalog.ImagesDir)); err != nil {
		t.Fatal(err)
	}
	cfg.Catalog.ImagesDir = images
	cfg.ES.URLs = []string{rc.URL}
	return cfg
}

func incremental(t *testing.T, cfg pipeline.Config) *pipeline.Report {
	t.Helper()
	rep, err := pipeline.Incremental(context.Background(), cfg)
	if err != nil {
		t.Fatalf("incremental: %v", err)
	}
	return rep
}

// TestIncrementalTrustsTheSnapshotUntilAnotherWriterMakesItStale: after a
// full run the incremental reads nothing back from the index and hashes no
// image whose stat is unchanged; a touch (mtime only) re-hashes that image
// and writes nothing; a run from another state dir (another host) makes the
// snapshot stale, and the next run reads the index and still ends equal to
// a full run.
func TestIncrementalTrustsTheSnapshotUntilAnotherWriterMakesItStale(t *testing.T) {
	es := estest.Client(t)
	rc := newReadCounter(t)
	before, after, added, _ := catalogVariants(t)
	ctx := context.Background()
	live := estest.IndexName(t, "snap")
	cfg := snapshotConfig(t, live, rc)
	cfg.CatalogPath = before
	full, err := pipeline.Full(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s := full.Snapshot; s == nil || !s.Written || s.Generation != 1 {
		t.Fatalf("full run's snapshot %+v, want one written at generation 1", s)
	}

	cfg.CatalogPath = after
	start := rc.reads.Load()
	rep := incremental(t, cfg)
	s := rep.Snapshot
	if reads := rc.reads.Load() - start; reads != 0 || !s.Used || s.IndexDocumentsRead != 0 {
		t.Errorf("with a fresh snapshot the run sent %d read requests (snapshot %+v), want none", reads, s)
	}
	if s.Rehashed != 1 || s.HashSkipped != rep.Products-len(added)-1 { // cat-half's new image
		t.Errorf("rehashed %d, hash skipped %d of %d products, want only cat-half's new image hashed", s.Rehashed, s.HashSkipped, rep.Products)
	}
	if !s.Written || s.Generation != 2 || rep.Changes.Written == 0 {
		t.Errorf("snapshot %+v after writing %d documents, want a snapshot of generation 2", s, rep.Changes.Written)
	}

	// mtime only: the image is hashed again, its hash has not changed, so
	// nothing is written; the new stat is recorded.
	img := filepath.Join(cfg.Catalog.ImagesDir, "rocket-orig.jpg")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(img, future, future); err != nil {
		t.Fatal(err)
	}
	start = rc.reads.Load()
	rep = incremental(t, cfg)
	if s := rep.Snapshot; rc.reads.Load() != start || !s.Used || s.Rehashed != 1 || rep.Changes.Written != 0 || rep.Embedded != 0 {
		t.Errorf("after a touch: snapshot %+v, written %d, embedded %d, want one image re-hashed and nothing written or read", s, rep.Changes.Written, rep.Embedded)
	}
	rep = incremental(t, cfg)
	if s := rep.Snapshot; !s.Used || s.Rehashed != 0 || s.HashSkipped != rep.Products || rep.Changes.Written != 0 {
		t.Errorf("run after the touch: snapshot %+v, written %d, want no image hashed and nothing written", s, rep.Changes.Written)
	}

	// Another writer (another state dir) goes back to the old catalog.
	other := cfg
	other.StateDir = t.TempDir()
	other.CatalogPath = before
	rep = incremental(t, other)
	if s := rep.Snapshot; s.Used || s.IndexDocumentsRead == 0 || !strings.Contains(s.Reason, "no snapshot yet") || s.Generation != 3 {
		t.Errorf("other writer: snapshot %+v, want the index read (no snapshot yet) and generation 3", s)
	}
	start = rc.reads.Load()
	rep = incremental(t, cfg)
	if s := rep.Snapshot; s.Used || !strings.Contains(s.Reason, "generation 2, the index is at 3") || rc.reads.Load() == start {
		t.Errorf("after another writer: snapshot %+v, want the index read because the generation moved", s)
	}
	reference := estest.IndexName(t, "snapref")
	ref := e2eConfig(t, reference)
	ref.CatalogPath = after
	if _, err := pipeline.Full(ctx, ref); err != nil {
		t.Fatal(err)
	}
	assertSameDocuments(t, comparable(t, es, live), comparable(t, es, reference))
}

// TestIncrementalCrashBeforeTheSnapshotWriteReadsTheIndex: a run that wrote
// into the index but died before its snapshot was in place (simulated by
// putting the old snapshot back) leaves the snapshot stale; the next run
// sees it, reads the index, writes nothing and leaves a fresh snapshot.
// Damaged snapshot files are refused with a reason naming them.
func TestIncrementalCrashBeforeTheSnapshotWriteReadsTheIndex(t *testing.T) {
	rc := newReadCounter(t)
	before, after, _, _ := catalogVariants(t)
	ctx := context.Background()
	live := estest.IndexName(t, "snapcrash")
	cfg := snapshotConfig(t, live, rc)
	cfg.CatalogPath = before
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(cfg.StateDir, live)
	saved := filepath.Join(t.TempDir(), "saved")
	copyTree(t, dir, saved)
	cfg.CatalogPath = after
	if rep := incremental(t, cfg); rep.Changes.Written == 0 {
		t.Fatal("the changed catalog wrote nothing")
	}
	os.RemoveAll(dir)
	copyTree(t, saved, dir)

	rep := incremental(t, cfg)
	s := rep.Snapshot
	if s.Used || !strings.Contains(s.Reason, "generation 1, the index is at 2") || s.IndexDocumentsRead == 0 {
		t.Errorf("after the simulated crash: snapshot %+v, want the index read because of the generation", s)
	}
	if rep.Changes.Written != 0 || !s.Written || s.Generation != 2 {
		t.Errorf("written %d, snapshot %+v: want nothing written and a snapshot of generation 2", rep.Changes.Written, s)
	}

	for _, file := range []string{"lists.bin", "records.bin", "sims.bin", "groups.bin", "header.json", "vectors.npy"} {
		if err := os.Truncate(filepath.Join(dir, file), 7); err != nil {
			t.Fatal(err)
		}
		rep := incremental(t, cfg)
		if s := rep.Snapshot; s.Used || !strings.Contains(s.Reason, file) && !strings.Contains(s.Reason, "npy") || rep.Changes.Written != 0 || !s.Written {
			t.Errorf("%s damaged: snapshot %+v, written %d, want the index read, nothing written, a new snapshot", file, s, rep.Changes.Written)
		}
	}
	if rep := incremental(t, cfg); !rep.Snapshot.Used {
		t.Errorf("the rewritten snapshot is not used: %+v", rep.Snapshot)
	}
	if _, meta, err := esindex.ReadMeta(ctx, estest.Client(t), live); err != nil || meta.Generation != 2 || meta.Pending {
		t.Errorf("meta %+v (%v), want generation 2: runs that write nothing do not move it", meta, err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.CopyFS(to, os.DirFS(from)); err != nil {
		t.Fatal(err)
	}
}

// TestIncrementalReadingTheIndexRepairsTheSimilarIndex: without a
// snapshot the run reads both indices back. A product whose list document
// is gone gets it again, a list document without its product is deleted,
// and nothing else is written: two list writes, no product document.
func TestIncrementalReadingTheIndexRepairsTheSimilarIndex(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	live := estest.IndexName(t, "repair")
	cfg := e2eConfig(t, live)
	if _, err := pipeline.Full(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	want := comparable(t, es, live)
	lists := mappings.SimilarAlias(live)
	if res, err := es.Delete(lists, "cat-half", es.Delete.WithRefresh("true")); err != nil || res.IsError() {
		t.Fatalf("delete a list document: %v %v", err, res)
	}
	ghost := `{"product_id":"ghost","similar_pi":["cat-half"],"similar":[{"pi":"cat-half","similarity":0.5}]}`
	if res, err := es.Index(lists, strings.NewReader(ghost), es.Index.WithDocumentID("ghost"), es.Index.WithRefresh("true")); err != nil || res.IsError() {
		t.Fatalf("index an orphan list document: %v %v", err, res)
	}
	cfg.StateDir = t.TempDir() // no snapshot: the run reads the index
	rep := incremental(t, cfg)
	if s, c := rep.Snapshot, rep.Changes; s.Used || c.WrittenLists != 2 || c.WrittenProducts != 0 {
		t.Errorf("snapshot %+v, changes %+v: want the index read, the missing list written, the orphan deleted, no product document", s, c)
	}
	assertSameDocuments(t, comparable(t, es, live), want)
	if rep := incremental(t, cfg); !rep.Snapshot.Used || rep.Changes.Written != 0 {
		t.Errorf("second run: snapshot %+v, changes %+v, want nothing written", rep.Snapshot, rep.Changes)
	}
}
