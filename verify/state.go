package verify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// DefaultLeaseIndex is where essync keeps one lease document per alias.
const DefaultLeaseIndex = "essync-leases"

// IndexMeta is the index's _meta.essync as verify reads it.
type IndexMeta struct {
	Present       bool   `json:"present"` // false: the index has no _meta.essync
	SchemaVersion int    `json:"schema_version"`
	Model         string `json:"model"`
	Dims          int    `json:"dims"`
	Similarity    string `json:"similarity"`
	IndexOptions  string `json:"index_options"`
	Complete      bool   `json:"complete"`
	Documents     *int   `json:"documents,omitempty"`
	Pending       bool   `json:"incremental_pending"`
	K             int    `json:"k,omitempty"` // 0 when the index does not record it
}

// Lease is the alias's lease document (one writer per alias).
type Lease struct {
	Alias     string    `json:"alias"`
	RunID     string    `json:"run_id"`
	Host      string    `json:"host"`
	PID       int       `json:"pid"`
	Command   string    `json:"command"`
	StartedAt time.Time `json:"started_at"`
	RenewedAt time.Time `json:"renewed_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// aliasTargets returns the indices alias names; when none and alias is itself
// a concrete index, it returns that index and isIndex true.
func aliasTargets(ctx context.Context, es *elasticsearch.Client, alias string) (indices []string, isIndex bool, err error) {
	res, err := es.Indices.GetAlias(es.Indices.GetAlias.WithName(alias), es.Indices.GetAlias.WithContext(ctx))
	if err != nil {
		return nil, false, fmt.Errorf("alias %s: %w", alias, err)
	}
	var byIndex map[string]json.RawMessage
	status, err := decode(res, &byIndex)
	if status == http.StatusNotFound {
		res, err := es.Indices.Exists([]string{alias}, es.Indices.Exists.WithContext(ctx))
		if err != nil {
			return nil, false, fmt.Errorf("index %s: %w", alias, err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			return []string{alias}, true, nil
		}
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("alias %s: %w", alias, err)
	}
	for name := range byIndex {
		indices = append(indices, name)
	}
	slices.Sort(indices)
	return indices, false, nil
}

// readIndexMeta returns _meta.essync of index.
func readIndexMeta(ctx context.Context, es *elasticsearch.Client, index string) (IndexMeta, error) {
	res, err := es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(index), es.Indices.GetMapping.WithContext(ctx))
	if err != nil {
		return IndexMeta{}, fmt.Errorf("mapping of %s: %w", index, err)
	}
	var m map[string]struct {
		Mappings struct {
			Meta struct {
				Essync json.RawMessage `json:"essync"`
			} `json:"_meta"`
		} `json:"mappings"`
	}
	if _, err := decode(res, &m); err != nil {
		return IndexMeta{}, fmt.Errorf("mapping of %s: %w", index, err)
	}
	var meta IndexMeta
	raw := m[index].Mappings.Meta.Essync
	if !present(raw) {
		return meta, nil
	}
	if err := json.Unmarshal(raw, &meta); err != nil {
		return IndexMeta{}, fmt.Errorf("_meta.essync of %s: %w", index, err)
	}
	meta.Present = true
	return meta, nil
}

// readLease returns alias's lease, nil when there is none (no lease index or
// no document for the alias).
func readLease(ctx context.Context, es *elasticsearch.Client, leaseIndex, alias string) (*Lease, error) {
	res, err := es.Get(leaseIndex, alias, es.Get.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("lease of %s: %w", alias, err)
	}
	var doc struct {
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	}
	status, err := decode(res, &doc)
	if status == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lease of %s: %w", alias, err)
	}
	if !doc.Found {
		return nil, nil
	}
	var l Lease
	if err := json.Unmarshal(doc.Source, &l); err != nil {
		return nil, fmt.Errorf("lease of %s in %s: %w", alias, leaseIndex, err)
	}
	return &l, nil
}

// count returns the number of documents behind target.
func count(ctx context.Context, es *elasticsearch.Client, target string) (int, error) {
	res, err := es.Count(es.Count.WithIndex(target), es.Count.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", target, err)
	}
	var c struct {
		Count int `json:"count"`
	}
	if _, err := decode(res, &c); err != nil {
		return 0, fmt.Errorf("count %s: %w", target, err)
	}
	return c.Count, nil
}

// decode reads a response into out and returns its status; an error answer
// becomes an error with the server's reason. It always closes the body.
func decode(res *esapi.Response, out any) (int, error) {
	defer res.Body.Close()
	if res.IsError() {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 16<<10))
		return res.StatusCode, fmt.Errorf("elasticsearch answered %s: %s", res.Status(), strings.TrimSpace(string(body)))
	}
	return res.StatusCode, json.NewDecoder(res.Body).Decode(out)
}
