package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// StoredDoc is one document read back from an index.
type StoredDoc struct {
	ID     string
	Source json.RawMessage // only the requested fields
}

// Scan reads every document of target (index or alias) through a
// point-in-time with search_after paging, so it sees one consistent snapshot
// however long it takes, and calls fn for each. fields limits _source
// (nil: the whole document, as it was sent).
func Scan(ctx context.Context, es *elasticsearch.Client, target string, fields []string, pageSize int, fn func(StoredDoc) error) error {
	if pageSize <= 0 {
		pageSize = 1000
	}
	res, err := es.OpenPointInTime([]string{target}, "5m", es.OpenPointInTime.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("open point in time on %s: %w", target, err)
	}
	var pit struct {
		ID string `json:"id"`
	}
	if err := decode(res, &pit); err != nil {
		return fmt.Errorf("open point in time on %s: %w", target, err)
	}
	defer func() {
		body, _ := json.Marshal(map[string]string{"id": pit.ID})
		if res, err := es.ClosePointInTime(es.ClosePointInTime.WithBody(bytes.NewReader(body)), es.ClosePointInTime.WithContext(context.WithoutCancel(ctx))); err == nil {
			res.Body.Close()
		}
	}()
	var after []any
	for {
		req := map[string]any{
			"size":             pageSize,
			"pit":              map[string]any{"id": pit.ID, "keep_alive": "5m"},
			"sort":             []any{map[string]any{"_shard_doc": "asc"}},
			"track_total_hits": false,
		}
		if fields != nil {
			req["_source"] = fields
		}
		if after != nil {
			req["search_after"] = after
		}
		body, _ := json.Marshal(req)
		page, err := scanPage(ctx, es, body)
		if err != nil {
			return fmt.Errorf("scan %s: %w", target, err)
		}
		if page.PitID != "" {
			pit.ID = page.PitID
		}
		for _, h := range page.Hits.Hits {
			if err := fn(StoredDoc{ID: h.ID, Source: h.Source}); err != nil {
				return err
			}
		}
		if len(page.Hits.Hits) < pageSize {
			return nil
		}
		after = page.Hits.Hits[len(page.Hits.Hits)-1].Sort
	}
}

// scanPageAttempts bounds how often one page is asked for again when its
// answer broke off mid-body (a dropped connection after the headers), which
// the client's own retries do not cover: the request had already succeeded.
const scanPageAttempts = 3

// scanPageResult is one page of a point-in-time search.
type scanPageResult struct {
	PitID string `json:"pit_id"`
	Hits  struct {
		Hits []struct {
			ID     string          `json:"_id"`
			Source json.RawMessage `json:"_source"`
			Sort   []any           `json:"sort"`
		} `json:"hits"`
	} `json:"hits"`
}

// scanPage asks for one page. A page read is idempotent (same PIT, same
// search_after), so an answer cut off while its body is read is asked for
// again, up to scanPageAttempts times.
func scanPage(ctx context.Context, es *elasticsearch.Client, body []byte) (scanPageResult, error) {
	var lastErr error
	for attempt := range scanPageAttempts {
		if attempt > 0 {
			select {
			case <-ctx.Done():
				return scanPageResult{}, ctx.Err()
			case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
			}
		}
		res, err := es.Search(es.Search.WithBody(bytes.NewReader(body)), es.Search.WithContext(ctx))
		if err != nil {
			return scanPageResult{}, err
		}
		if res.IsError() {
			return scanPageResult{}, decode(res, nil)
		}
		var page scanPageResult
		dec := json.NewDecoder(res.Body)
		dec.UseNumber() // sort values are longs beyond float64 precision
		err = dec.Decode(&page)
		res.Body.Close()
		if err == nil {
			return page, nil
		}
		if ctx.Err() != nil || !brokenBody(err) {
			return scanPageResult{}, err
		}
		lastErr = err
	}
	return scanPageResult{}, fmt.Errorf("the answer broke off %d times: %w", scanPageAttempts, lastErr)
}

// brokenBody reports whether reading an answer failed because the
// connection went away, not because the server sent something unreadable.
func brokenBody(err error) bool {
	var netErr net.Error
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.As(err, &netErr)
}
