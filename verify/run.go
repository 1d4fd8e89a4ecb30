package verify

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/catalog"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
)

// DefaultK is the list length expected when the index does not record its k.
const DefaultK = 20

// DefaultNormTolerance is how far a stored vector's length may be from 1.
const DefaultNormTolerance = 1e-3

// Options says what to audit and how.
type Options struct {
	Alias string // the alias readers query (a concrete index works too, with a finding)

	// CatalogPath and Catalog name the catalog to compare with; an empty
	// CatalogPath skips the catalog checks (and --hash).
	CatalogPath string
	Catalog     catalog.Options

	K         int     // list length when _meta.essync has no k (default DefaultK)
	Model     string  // expected model fingerprint (from --model); "" = no check
	Hash      bool    // hash every image and compare with essync.image_sha256
	Sample    int     // products whose lists are checked against the exact top-K (0 = none)
	Seed      uint64  // the sample's seed
	MinRecall float64 // a sample recall below this is a finding

	NormTolerance float64 // allowed |‖v‖ − 1| (default DefaultNormTolerance)
	LeaseIndex    string  // default DefaultLeaseIndex
	PageSize      int     // documents per scan page (default 1000)
	Workers       int     // decoding and hashing goroutines (default GOMAXPROCS)
	Now           func() time.Time
}

// Report is the outcome of an audit: the index's state and every finding.
type Report struct {
	Alias          string       `json:"alias"`
	Indices        []string     `json:"indices"`
	Meta           IndexMeta    `json:"meta"`
	Documents      int          `json:"documents"`
	Catalog        string       `json:"catalog,omitempty"`
	CatalogRows    int          `json:"catalog_products"`
	CatalogSkipped int          `json:"catalog_skipped"`
	K              int          `json:"k"`
	KFrom          string       `json:"k_from"` // "index" (_meta.essync.k) or "flag"
	Hashed         bool         `json:"hashed"`
	Sample         Sample       `json:"sample"`
	Lease          *Lease       `json:"lease,omitempty"`
	Seconds        float64      `json:"seconds"`
	Counts         map[Kind]int `json:"counts"`
	Findings       []Finding    `json:"findings"`
}

// Clean reports whether the audit found nothing.
func (r *Report) Clean() bool { return len(r.Findings) == 0 }

func (o *Options) defaults() {
	if o.K <= 0 {
		o.K = DefaultK
	}
	if o.NormTolerance <= 0 {
		o.NormTolerance = DefaultNormTolerance
	}
	if o.LeaseIndex == "" {
		o.LeaseIndex = DefaultLeaseIndex
	}
	if o.PageSize <= 0 {
		o.PageSize = 1000
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Run audits the index behind opts.Alias against the catalog. The error is
// for failures to audit (Elasticsearch unreachable, catalog unreadable);
// everything wrong with the index itself is a finding in the report.
func Run(ctx context.Context, es *elasticsearch.Client, opts Options) (*Report, error) {
	opts.defaults()
	start := opts.Now()
	rep := &Report{Alias: opts.Alias, Catalog: opts.CatalogPath, Hashed: opts.Hash, Counts: map[Kind]int{}, Findings: []Finding{}}
	var state []Finding
	note := func(k Kind, detail string) { state = append(state, Finding{Kind: k, Detail: detail}) }
	defer func() {
		rep.Seconds = opts.Now().Sub(start).Seconds()
	}()

	indices, isIndex, err := aliasTargets(ctx, es, opts.Alias)
	if err != nil {
		return nil, err
	}
	rep.Indices = indices
	switch {
	case len(indices) == 0:
		note(KindAliasMissing, fmt.Sprintf("no alias or index called %q: run essync full, or pass the alias with --index", opts.Alias))
		rep.finish(state)
		return rep, nil
	case isIndex:
		note(KindNotAlias, fmt.Sprintf("%q is a concrete index, not an alias: essync publishes behind an alias", opts.Alias))
	case len(indices) > 1:
		note(KindAliasMultiple, fmt.Sprintf("alias %q names %d indices %v; essync keeps it on exactly one", opts.Alias, len(indices), indices))
	}
	if rep.Meta, err = readIndexMeta(ctx, es, indices[0]); err != nil {
		return nil, err
	}
	meta := rep.Meta
	switch {
	case !meta.Present:
		note(KindNotEssync, fmt.Sprintf("index %s has no _meta.essync: essync did not build it", indices[0]))
	default:
		if !meta.Complete {
			note(KindIncomplete, fmt.Sprintf("index %s is not marked complete: no full run verified it", indices[0]))
		}
		if meta.Pending {
			note(KindPending, fmt.Sprintf("index %s is marked incremental_pending: an incremental run is writing, or died writing; lists may be half-updated (the next incremental run repairs them)", indices[0]))
		}
		if opts.Model != "" && meta.Model != opts.Model {
			note(KindIndexModel, fmt.Sprintf("index vectors come from model %q, --model is %q: run essync full with that model", meta.Model, opts.Model))
		}
	}
	rep.K, rep.KFrom = opts.K, "flag"
	if meta.K > 0 {
		rep.K, rep.KFrom = meta.K, "index"
	}
	lease, err := readLease(ctx, es, opts.LeaseIndex, opts.Alias)
	if err != nil {
		return nil, err
	}
	if rep.Lease = lease; lease != nil {
		who := fmt.Sprintf("run %s (%s on %s, pid %d, started %s, expires %s)", lease.RunID, lease.Command, lease.Host, lease.PID,
			lease.StartedAt.Format(time.RFC3339), lease.ExpiresAt.Format(time.RFC3339))
		if lease.ExpiresAt.After(opts.Now()) {
			note(KindLeaseHeld, who+" holds the lease: the index may change while it runs; verify again when it has finished")
		} else {
			note(KindLeaseStale, who+" left an expired lease: that run died; the next run takes the lease over")
		}
	}
	expected, err := count(ctx, es, opts.Alias)
	if err != nil {
		return nil, err
	}

	// The catalog is read while the index is scanned.
	var products []CatalogProduct
	var catErr error
	var catWG sync.WaitGroup
	if opts.CatalogPath != "" {
		catWG.Add(1)
		go func() {
			defer catWG.Done()
			var ps []catalog.Product
			var skips []catalog.Skip
			ps, skips, catErr = catalog.Read(opts.CatalogPath, opts.Catalog)
			rep.CatalogRows, rep.CatalogSkipped = len(ps), len(skips)
			products = make([]CatalogProduct, len(ps))
			for i, p := range ps {
				products[i] = CatalogProduct{ID: p.ID, ImageName: p.ImageName, ImagePath: p.ImagePath}
			}
		}()
	}
	exp := expect{Dims: meta.Dims, Model: meta.Model, NormTolerance: opts.NormTolerance}
	a := newAuditor(meta.Dims, expected, opts.Hash)
	scanErr := scan(ctx, es, opts, exp, a)
	catWG.Wait()
	if scanErr != nil {
		return nil, scanErr
	}
	if catErr != nil {
		return nil, catErr
	}
	lists, err := scanLists(ctx, es, opts, indices[0], isIndex, a)
	if err != nil {
		return nil, err
	}
	state = append(state, lists...)
	rep.Documents = a.docs()
	if meta.Documents != nil && *meta.Documents != a.docs() {
		note(KindDocumentCount, fmt.Sprintf("the index holds %d documents, _meta.essync.documents says %d", a.docs(), *meta.Documents))
	}
	a.checkLists(rep.K)
	a.checkGroups()
	if opts.CatalogPath != "" {
		rows := a.checkCatalog(products)
		if opts.Hash {
			a.checkHashes(products, rows, opts.Workers)
		}
	}
	rep.Sample = a.checkQuality(rep.K, opts.Sample, opts.Seed, opts.MinRecall, opts.Workers)
	rep.finish(append(state, a.findings...))
	return rep, nil
}

func (r *Report) finish(fs []Finding) {
	sortFindings(fs)
	r.Findings = fs
	for _, f := range fs {
		r.Counts[f.Kind]++
	}
}

// scan reads every document through a point in time, decodes and inspects
// them on opts.Workers goroutines while the next page is fetched, and feeds
// the results to the auditor (one goroutine, so it needs no locks).
func scan(ctx context.Context, es *elasticsearch.Client, opts Options, exp expect, a *auditor) error {
	type raw struct {
		id  string
		src []byte
	}
	raws := make(chan []raw, 4)
	states := make(chan []docState, 4)
	var workers sync.WaitGroup
	for range opts.Workers {
		workers.Add(1)
		go func() {
			defer workers.Done()
			for page := range raws {
				out := make([]docState, len(page))
				for i, r := range page {
					out[i] = inspect(r.id, r.src, exp)
				}
				states <- out
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		for page := range states {
			for _, d := range page {
				a.add(d)
			}
		}
		close(done)
	}()
	var page []raw
	// The whole _source: filtering it makes Elasticsearch parse and re-render
	// every document, which measured slower than sending the stored bytes.
	err := esindex.Scan(ctx, es, opts.Alias, nil, opts.PageSize, func(d esindex.StoredDoc) error {
		page = append(page, raw{d.ID, d.Source})
		if len(page) == 256 {
			raws <- page
			page = nil
		}
		return nil
	})
	if len(page) > 0 {
		raws <- page
	}
	close(raws)
	workers.Wait()
	close(states)
	<-done
	if err != nil {
		return fmt.Errorf("read %s: %w", opts.Alias, err)
	}
	return nil
}

// scanLists checks that alias-similar is the pair of the product index
// (esindex.SimilarIndexFor) and feeds its list documents to the auditor.
// A concrete product index (concrete) is audited with its pair's lists.
// It returns the index-wide findings.
func scanLists(ctx context.Context, es *elasticsearch.Client, opts Options, products string, concrete bool, a *auditor) ([]Finding, error) {
	simAlias := mappings.SimilarAlias(opts.Alias)
	want, _ := esindex.SimilarIndexFor(products)
	if concrete {
		simAlias = want
	}
	indices, isIndex, err := aliasTargets(ctx, es, simAlias)
	if err != nil {
		return nil, err
	}
	var fs []Finding
	switch {
	case len(indices) == 0:
		return []Finding{{Kind: KindSimilarIndex, Detail: fmt.Sprintf("no alias %s: since schema 3 the similar lists live there; run essync full", simAlias)}}, nil
	case isIndex != concrete || len(indices) != 1 || indices[0] != want:
		fs = append(fs, Finding{Kind: KindSimilarIndex, Detail: fmt.Sprintf("alias %s names %v, want %s, the pair of %s: its lists may be of other products; run essync rollback or full", simAlias, indices, want, products)})
	}
	err = esindex.Scan(ctx, es, simAlias, nil, opts.PageSize, func(d esindex.StoredDoc) error {
		a.addList(inspectList(d.ID, d.Source))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", simAlias, err)
	}
	return fs, nil
}

// checkHashes hashes every catalog image that has a document and compares it
// with the document's essync.image_sha256.
func (a *auditor) checkHashes(products []CatalogProduct, rowOf []int, workers int) {
	type job struct{ doc, row int }
	jobs := make(chan job)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				p := products[j.row]
				sum, err := embed.FileSHA256(p.ImagePath)
				mu.Lock()
				switch {
				case err != nil:
					a.report(KindImageUnreadable, fmt.Sprintf("image %s: %v", p.ImagePath, err), p.ID)
				case sum != a.sha256[j.doc]:
					a.report(KindImageChanged, fmt.Sprintf("image %s has sha256 %.12s…, the document %.12s…: it changed since the last sync; run essync incremental", p.ImageName, sum, a.sha256[j.doc]), p.ID)
				}
				mu.Unlock()
			}
		}()
	}
	for doc, row := range rowOf {
		if row >= 0 {
			jobs <- job{doc, row}
		}
	}
	close(jobs)
	wg.Wait()
}
