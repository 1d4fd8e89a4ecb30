package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

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
		res, err := es.Search(es.Search.WithBody(bytes.NewReader(body)), es.Search.WithContext(ctx))
		if err != nil {
			return fmt.Errorf("scan %s: %w", target, err)
		}
		var page struct {
			PitID string `json:"pit_id"`
			Hits  struct {
				Hits []struct {
					ID     string          `json:"_id"`
					Source json.RawMessage `json:"_source"`
					Sort   []any           `json:"sort"`
				} `json:"hits"`
			} `json:"hits"`
		}
		dec := json.NewDecoder(res.Body)
		dec.UseNumber() // sort values are longs beyond float64 precision
		if res.IsError() {
			return fmt.Errorf("scan %s: %w", target, decode(res, nil))
		}
		err = dec.Decode(&page)
		res.Body.Close()
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
