package serve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
)

// Config says what a Searcher (and a Server) serves. Zero values of the
// numbers pick the defaults in their comments. Memory for queries stays below
// QueueSize × MaxBodyBytes for uploads plus one decoded photo per core.
type Config struct {
	ES           *elasticsearch.Client
	Alias        string          // the alias the shop reads (default "products")
	Embedder     *embed.Embedder // the model query photos are embedded with; must be the index's
	ImagesDir    string          // folder of the catalog's images, served under /images/ ("" = none)
	MaxBodyBytes int64           // largest upload (default 16 MiB); larger answers 413
	QueueSize    int             // query images held at once (uploaded, decoded, waiting for the model; default 32); more answer 429
	MaxBatch     int             // most queries per model call (passes with MixPasses; default 8; 1 did better only on a heavily loaded machine, docs/BENCHMARKS.md)
	BatchWait    time.Duration   // longest a model call waits for queries being decoded (default 2 ms; negative = never)
	MixPasses    bool            // batch single model passes of different queries instead of whole queries (slower under load; docs/BENCHMARKS.md)
	DecodeLimit  int             // query photos decoded at once (default: one per core)
	ESTimeout    time.Duration   // deadline of every Elasticsearch call (default 5 s)
	HealthEvery  time.Duration   // how often the alias and its model are checked (default 2 s)
	MaxK         int             // largest k a caller may ask for (default 100)
	// NumCandidates is the kNN num_candidates of every search (0: esindex's
	// default, max(10·k, 100)); at 1 M products and more, 500–1 000 keep
	// recall@20 above 0.97 (docs/SCALING.md). At most MaxNumCandidates.
	NumCandidates int
}

// MaxNumCandidates is the largest num_candidates Elasticsearch accepts.
const MaxNumCandidates = 10000

func (c *Config) defaults() {
	if c.Alias == "" {
		c.Alias = "products"
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 16 << 20
	}
	if c.QueueSize <= 0 {
		c.QueueSize = 32
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 8
	}
	if c.BatchWait == 0 {
		c.BatchWait = 2 * time.Millisecond
	}
	if c.DecodeLimit <= 0 {
		c.DecodeLimit = runtime.NumCPU()
	}
	if c.ESTimeout <= 0 {
		c.ESTimeout = 5 * time.Second
	}
	if c.HealthEvery <= 0 {
		c.HealthEvery = 2 * time.Second
	}
	if c.MaxK <= 0 {
		c.MaxK = 100
	}
}

// sourceExcludes are left out of every returned _source: the vector and
// essync's bookkeeping (the last three are top-level until the schema moves
// them under "essync").
var sourceExcludes = []string{"image_vector", "essync", "model", "synced_at", "image_sha256"}

// hitExcludes are left out of every hit's _source. Since schema 3 the
// similar lists live in their own index (mappings.SimilarAlias), so a
// product document holds none to leave out.
var hitExcludes = sourceExcludes

// Error is a refusal the caller can act on: an HTTP status, a reason, and for
// 429 how many seconds to wait.
type Error struct {
	Status     int
	Reason     string
	RetryAfter int
}

// Error returns the reason, as the caller sees it.
func (e *Error) Error() string { return e.Reason }

func refuse(status int, format string, a ...any) *Error {
	return &Error{Status: status, Reason: fmt.Sprintf(format, a...)}
}

// Searcher embeds query photos with the served model and runs kNN on the
// alias's index; it is the code path of both `essync serve` and `essync search`.
type Searcher struct {
	cfg     Config
	model   string
	decode  chan struct{} // one token per photo being decoded: at most one per core, so memory stays bounded
	queue   *inferQueue
	health  *health
	metrics *metrics
}

// NewSearcher starts the inference goroutine and the periodic health check
// (the first check runs before it returns). Close stops both.
func NewSearcher(cfg Config) (*Searcher, error) {
	if cfg.NumCandidates < 0 || cfg.NumCandidates > MaxNumCandidates {
		return nil, fmt.Errorf("serve: num_candidates %d: want 0 (the default, max(10·k, 100)) up to %d", cfg.NumCandidates, MaxNumCandidates)
	}
	if cfg.ES == nil || cfg.Embedder == nil {
		return nil, errors.New("serve: Config needs ES and Embedder")
	}
	cfg.defaults()
	s := &Searcher{cfg: cfg, model: cfg.Embedder.Fingerprint(), decode: make(chan struct{}, cfg.DecodeLimit)}
	s.metrics = newMetrics(func() float64 { return float64(s.queue.depth()) })
	s.queue = newInferQueue(cfg.Embedder, cfg.QueueSize, cfg.MaxBatch, cfg.BatchWait, cfg.MixPasses, s.metrics.observeInference, s.metrics.observeStage)
	s.health = newHealth(cfg.ES, cfg.Alias, s.model, cfg.ESTimeout, func(st healthState) {
		s.metrics.healthy.Set(map[bool]float64{true: 1}[st.OK])
	})
	s.health.start(cfg.HealthEvery)
	return s, nil
}

// Close stops the health checks and the inference goroutine.
func (s *Searcher) Close() {
	s.health.close()
	s.queue.close()
}

// Model is the fingerprint of the model query photos are embedded with.
func (s *Searcher) Model() string { return s.model }

// Health reports whether searches are answered now, and why not.
func (s *Searcher) Health() (ok bool, reason string) {
	st := s.health.current()
	return st.OK, st.Reason
}

// Query is what a search asks besides the photo.
type Query struct {
	K       int           // hits wanted (default 10)
	Filters []FieldFilter // all must hold
}

// FieldFilter restricts a search on one catalog field: equal to any of
// Values, and/or within [Min, Max] for numbers.
type FieldFilter struct {
	Field    string
	Values   []string
	Min, Max *float64
}

// SearchResult is the answer to a search by photo.
type SearchResult struct {
	Model  string        `json:"model"`
	TookMs float64       `json:"took_ms"`
	Hits   []esindex.Hit `json:"hits"`
}

// SearchImage embeds the photo in data and returns the K most similar
// products, best first. Refusals are *Error (4xx/5xx with a reason).
func (s *Searcher) SearchImage(ctx context.Context, name string, data []byte, q Query) (*SearchResult, error) {
	if !s.queue.tryAcquire() {
		return nil, s.busy()
	}
	return s.searchHolding(ctx, name, data, q)
}

// busy is the 429 answer of a full queue.
func (s *Searcher) busy() *Error {
	return &Error{Status: http.StatusTooManyRequests, RetryAfter: s.queue.retryAfter(),
		Reason: fmt.Sprintf("%d query images are already being processed; retry later", s.cfg.QueueSize)}
}

// searchHolding is SearchImage for a caller that already holds a queue slot;
// it releases the slot once the vector is known.
func (s *Searcher) searchHolding(ctx context.Context, name string, data []byte, q Query) (*SearchResult, error) {
	start := time.Now()
	held := true
	defer func() {
		if held {
			s.queue.release()
		}
	}()
	st := s.health.current()
	if !st.OK {
		return nil, refuse(http.StatusServiceUnavailable, "%s", st.Reason)
	}
	if q.K == 0 {
		q.K = 10
	}
	if q.K < 1 || q.K > s.cfg.MaxK {
		return nil, refuse(http.StatusBadRequest, "k=%d: want 1..%d", q.K, s.cfg.MaxK)
	}
	filters, err := resolveFilters(q.Filters, st.Fields)
	if err != nil {
		return nil, err
	}
	// Decoding is CPU-bound and a decoded photo may be large (up to the pixel
	// limit × 4 bytes): decode at most one per core, the others wait here
	// holding only their upload.
	select {
	case s.decode <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	t0 := time.Now()
	query, err := s.cfg.Embedder.Prepare(name, data)
	<-s.decode
	s.metrics.observeStage("decode", time.Since(t0))
	switch {
	case errors.Is(err, embed.ErrNotImage):
		return nil, refuse(http.StatusUnsupportedMediaType, "%v", err)
	case errors.Is(err, embed.ErrTooManyPixels):
		return nil, refuse(http.StatusRequestEntityTooLarge, "%v", err)
	case errors.Is(err, embed.ErrImage):
		return nil, refuse(http.StatusBadRequest, "%v", err)
	case err != nil:
		return nil, err
	}
	vec, err := s.queue.embed(ctx, query)
	s.queue.release()
	held = false
	if err != nil {
		return nil, fmt.Errorf("embed %s: %w", name, err)
	}
	var hits []esindex.Hit
	err = s.onIndex(ctx, &st, "knn", func(ctx context.Context, index string) (err error) {
		hits, err = esindex.KNN(ctx, s.cfg.ES, index, esindex.KNNQuery{Vector: vec, K: q.K, NumCandidates: s.cfg.NumCandidates, Filters: filters, Excludes: hitExcludes})
		return err
	})
	if err != nil {
		return nil, err
	}
	if hits == nil {
		hits = []esindex.Hit{}
	}
	return &SearchResult{Model: s.model, TookMs: ms(time.Since(start)), Hits: hits}, nil
}

// onIndex runs one Elasticsearch call on the index the last health check
// verified (never on whatever the alias points at now, which may hold another
// model's vectors), with the configured timeout. If that index is gone (a
// newer run pruned it) it checks the alias again and retries once.
func (s *Searcher) onIndex(ctx context.Context, st *healthState, op string, call func(context.Context, string) error) error {
	for attempt := 0; ; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.ESTimeout)
		start := time.Now()
		err := call(cctx, st.Index)
		s.metrics.observeES(op, start)
		cancel()
		var re *esindex.ResponseError
		if attempt == 0 && errors.As(err, &re) && re.Type == "index_not_found_exception" {
			s.health.refresh()
			if *st = s.health.current(); !st.OK {
				return refuse(http.StatusServiceUnavailable, "%s", st.Reason)
			}
			continue
		}
		return esError(ctx, op, err)
	}
}

// esError turns a failed Elasticsearch call into a 504 (timeout) or 502.
func esError(ctx context.Context, op string, err error) error {
	switch {
	case err == nil || errors.Is(err, esindex.ErrNotFound):
		return err
	case ctx.Err() != nil:
		return ctx.Err() // the caller went away
	case errors.Is(err, context.DeadlineExceeded):
		return refuse(http.StatusGatewayTimeout, "elasticsearch %s did not answer in time: %v", op, err)
	default:
		return refuse(http.StatusBadGateway, "elasticsearch %s failed: %v", op, err)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// SimilarProduct is one entry of a product's stored similar list.
type SimilarProduct struct {
	ID         string          `json:"product_id"`
	Similarity float64         `json:"similarity"`
	Source     json.RawMessage `json:"source"`
}

// SimilarResult is a product with its precomputed similar products and
// its offer group, all read from its list document (schema 4 keeps
// group_size there, not in the product document).
type SimilarResult struct {
	ID      string  `json:"product_id"`
	TookMs  float64 `json:"took_ms"`
	GroupID string  `json:"group_id,omitempty"`
	// GroupSize is how many offers the product's group has (0: the index
	// records none).
	GroupSize int              `json:"group_size,omitempty"`
	Source    json.RawMessage  `json:"source"`
	Similar   []SimilarProduct `json:"similar"`
}

// Similar returns product id's stored similar list (the first k; 0 = all)
// with each product's catalog fields and its offer group: one GET of its
// list document in the similar index paired with the live product index,
// and one mget of the product and the listed products. Products listed but no longer in the
// index are left out.
func (s *Searcher) Similar(ctx context.Context, id string, k int) (*SimilarResult, error) {
	start := time.Now()
	st := s.health.current()
	if st.Index == "" {
		return nil, refuse(http.StatusServiceUnavailable, "%s", st.Reason)
	}
	if k < 0 || k > s.cfg.MaxK {
		return nil, refuse(http.StatusBadRequest, "k=%d: want 1..%d", k, s.cfg.MaxK)
	}
	if _, ok := esindex.SimilarIndexFor(st.Index); !ok {
		return nil, refuse(http.StatusServiceUnavailable, "index %s is not named <alias>-<timestamp> as essync names them: its similar index cannot be found; run essync full", st.Index)
	}
	var raw json.RawMessage
	err := s.onIndex(ctx, &st, "get", func(ctx context.Context, index string) (err error) {
		lists, _ := esindex.SimilarIndexFor(index)
		raw, err = esindex.GetDoc(ctx, s.cfg.ES, lists, id, nil)
		return err
	})
	if errors.Is(err, esindex.ErrNotFound) {
		return nil, refuse(http.StatusNotFound, "no product %q in %s", id, s.cfg.Alias)
	}
	if err != nil {
		return nil, err
	}
	doc, err := esindex.DecodeList(raw)
	if err != nil {
		return nil, fmt.Errorf("product %s: its list document is not a JSON object with a similar list: %v", id, err)
	}
	list := doc.Similar
	if k > 0 && k < len(list) {
		list = list[:k]
	}
	ids := make([]string, 0, len(list)+1)
	ids = append(ids, id)
	for _, n := range list {
		ids = append(ids, n.PI)
	}
	var sources map[string]json.RawMessage
	err = s.onIndex(ctx, &st, "mget", func(ctx context.Context, index string) (err error) {
		sources, err = esindex.MGet(ctx, s.cfg.ES, index, ids, hitExcludes)
		return err
	})
	if err != nil {
		return nil, err
	}
	src, ok := sources[id]
	if !ok {
		return nil, refuse(http.StatusNotFound, "no product %q in %s", id, s.cfg.Alias)
	}
	out := &SimilarResult{ID: id, GroupID: doc.GroupID, GroupSize: doc.GroupSize, Source: src, Similar: make([]SimilarProduct, 0, len(list))}
	for _, n := range list {
		if src, ok := sources[n.PI]; ok {
			out.Similar = append(out.Similar, SimilarProduct{ID: n.PI, Similarity: n.Similarity, Source: src})
		}
	}
	out.TookMs = ms(time.Since(start))
	return out, nil
}
