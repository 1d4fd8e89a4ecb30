package serve

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/esindex"
)

// healthState is the outcome of the last health check.
type healthState struct {
	OK      bool
	Reason  string            // why not OK, for people
	Index   string            // the concrete index behind the alias ("" if none)
	Model   string            // the model fingerprint the index says its vectors come from
	Fields  map[string]string // field types of Index, for filters
	Checked time.Time
}

// health checks every interval that Elasticsearch answers, the alias exists
// and its index holds vectors of the served model, and keeps the answer, so
// requests read it without a round trip and a `full` run with another model
// turns searches into 503s within one interval.
type health struct {
	es      *elasticsearch.Client
	alias   string
	model   string
	timeout time.Duration
	onCheck func(healthState)

	mu    sync.RWMutex
	state healthState
	stop  chan struct{}
	wg    sync.WaitGroup
}

func newHealth(es *elasticsearch.Client, alias, model string, timeout time.Duration, onCheck func(healthState)) *health {
	return &health{es: es, alias: alias, model: model, timeout: timeout, onCheck: onCheck, stop: make(chan struct{})}
}

// start checks once now, then every interval until close.
func (h *health) start(interval time.Duration) {
	h.refresh()
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-h.stop:
				return
			case <-t.C:
				h.refresh()
			}
		}
	}()
}

func (h *health) close() {
	close(h.stop)
	h.wg.Wait()
}

// current is the last checked state.
func (h *health) current() healthState {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.state
}

// refresh runs one check and stores its outcome.
func (h *health) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), h.timeout)
	defer cancel()
	prev := h.current()
	s := h.check(ctx, prev)
	s.Checked = time.Now()
	h.mu.Lock()
	h.state = s
	h.mu.Unlock()
	if h.onCheck != nil {
		h.onCheck(s)
	}
}

// check asks Elasticsearch for the alias's metadata; field types are read
// again only when the alias moved to another index.
func (h *health) check(ctx context.Context, prev healthState) healthState {
	index, model, err := readIndexModel(ctx, h.es, h.alias)
	if err != nil {
		var re *esindex.ResponseError
		if errors.As(err, &re) && re.Status == 404 {
			return healthState{Reason: fmt.Sprintf("alias %s does not exist: run `essync full` to build it", h.alias)}
		}
		return healthState{Reason: fmt.Sprintf("cannot read alias %s from elasticsearch: %v", h.alias, err)}
	}
	s := healthState{Index: index, Model: model, Fields: prev.Fields}
	if index != prev.Index || prev.Fields == nil {
		fields, err := esindex.FieldTypes(ctx, h.es, index)
		if err != nil {
			return healthState{Index: index, Model: model, Reason: fmt.Sprintf("cannot read the fields of %s: %v", index, err)}
		}
		s.Fields = fields
	}
	if model != h.model {
		s.Reason = fmt.Sprintf("alias %s points at %s, whose vectors come from model %q, but this service embeds with %q: "+
			"restart it with that model's card, or run `essync full` with this model", h.alias, index, model, h.model)
		return s
	}
	s.OK = true
	return s
}

// readIndexModel is the one place that reads the alias's _meta.essync: the
// concrete index and the model fingerprint its vectors were made with.
func readIndexModel(ctx context.Context, es *elasticsearch.Client, alias string) (index, model string, err error) {
	index, meta, err := esindex.ReadMeta(ctx, es, alias)
	if err != nil {
		return "", "", err
	}
	return index, meta.Model, nil
}
