package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/mappings"
)

// timestampLayout names concrete indices <alias>-<UTC time>; it sorts in time
// order, is lowercase and valid in an index name.
const timestampLayout = "20060102-150405.000"

// NewIndexName returns the concrete index name for a load that starts at t.
func NewIndexName(alias string, t time.Time) string {
	return alias + "-" + t.UTC().Format(timestampLayout)
}

var managedSuffix = regexp.MustCompile(`^\d{8}-\d{6}\.\d{3}$`)

// isManaged reports whether index is one of alias's concrete indices.
func isManaged(alias, index string) bool {
	rest, ok := strings.CutPrefix(index, alias+"-")
	return ok && managedSuffix.MatchString(rest)
}

// CreateIndex creates index from a create-index body (settings + mappings),
// overriding the settings that make a bulk load fast: no refresh, no replicas.
// FinishLoad restores them.
func CreateIndex(ctx context.Context, es *elasticsearch.Client, index string, body []byte) error {
	var doc map[string]any
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("create %s: mapping body: %w", index, err)
	}
	settings, _ := doc["settings"].(map[string]any)
	if settings == nil {
		settings = map[string]any{}
		doc["settings"] = settings
	}
	idx, _ := settings["index"].(map[string]any)
	if idx == nil {
		idx = map[string]any{}
		settings["index"] = idx
	}
	idx["refresh_interval"] = "-1"
	idx["number_of_replicas"] = 0
	b, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("create %s: %w", index, err)
	}
	res, err := es.Indices.Create(index, es.Indices.Create.WithBody(bytes.NewReader(b)), es.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("create %s: %w", index, err)
	}
	if err := decode(res, nil); err != nil {
		if !isAlreadyExists(err) || !ownEmptyIndex(ctx, es, index) {
			return fmt.Errorf("create %s: %w", index, err)
		}
		// The client retries a create whose answer was lost (a timeout
		// on a busy node); the first attempt made the index. Its name is
		// this run's (a millisecond timestamp under the run's lease).
		slog.Warn("the index already existed, empty and not complete: taking it as made by a retried create", "index", index)
	}
	return nil
}

// isAlreadyExists is true for Elasticsearch's "index already exists" answer.
func isAlreadyExists(err error) bool {
	var re *ResponseError
	return errors.As(err, &re) && re.Type == "resource_already_exists_exception"
}

// ownEmptyIndex reports whether index holds no document and is not marked
// complete: what a create that succeeded a moment ago leaves.
func ownEmptyIndex(ctx context.Context, es *elasticsearch.Client, index string) bool {
	_, meta, err := ReadMeta(ctx, es, index)
	if err != nil || meta.Complete {
		return false
	}
	n, err := Count(ctx, es, index)
	return err == nil && n == 0
}

// FinishLoad makes a freshly loaded index ready to go live: it restores the
// refresh interval and replicas, refreshes, waits for the index to be usable,
// checks that it holds exactly want documents and marks it complete in its
// mapping's _meta, so pruning and rollback never pick a half-built index.
func FinishLoad(ctx context.Context, es *elasticsearch.Client, index string, replicas, want int) error {
	settings := fmt.Sprintf(`{"index":{"refresh_interval":null,"number_of_replicas":%d}}`, replicas)
	res, err := es.Indices.PutSettings(strings.NewReader(settings), es.Indices.PutSettings.WithIndex(index), es.Indices.PutSettings.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("restore settings of %s: %w", index, err)
	}
	if err := decode(res, nil); err != nil {
		return fmt.Errorf("restore settings of %s: %w", index, err)
	}
	if err := Refresh(ctx, es, index); err != nil {
		return err
	}
	res, err = es.Cluster.Health(es.Cluster.Health.WithIndex(index), es.Cluster.Health.WithWaitForStatus("yellow"),
		es.Cluster.Health.WithTimeout(2*time.Minute), es.Cluster.Health.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("health of %s: %w", index, err)
	}
	var health struct {
		Status   string `json:"status"`
		TimedOut bool   `json:"timed_out"`
	}
	if err := decode(res, &health); err != nil {
		return fmt.Errorf("health of %s: %w", index, err)
	}
	if health.TimedOut || health.Status == "red" {
		return fmt.Errorf("index %s is %s after loading; not going live", index, health.Status)
	}
	got, err := Count(ctx, es, index)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("index %s holds %d documents, want %d; not going live", index, got, want)
	}
	return SetMeta(ctx, es, index, func(m *Meta) { m.Complete, m.Documents = true, want })
}

// Refresh makes everything written to index visible to searches.
func Refresh(ctx context.Context, es *elasticsearch.Client, index string) error {
	res, err := es.Indices.Refresh(es.Indices.Refresh.WithIndex(index), es.Indices.Refresh.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("refresh %s: %w", index, err)
	}
	if err := decode(res, nil); err != nil {
		return fmt.Errorf("refresh %s: %w", index, err)
	}
	return nil
}

// Count returns the number of documents in index (or alias).
func Count(ctx context.Context, es *elasticsearch.Client, index string) (int, error) {
	res, err := es.Count(es.Count.WithIndex(index), es.Count.WithContext(ctx))
	if err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	var c struct {
		Count int `json:"count"`
	}
	if err := decode(res, &c); err != nil {
		return 0, fmt.Errorf("count %s: %w", index, err)
	}
	return c.Count, nil
}

// Meta is what essync records in an index's mapping _meta.essync; the one
// definition of its keys lives in the mappings package.
type Meta = mappings.Meta

// SetMeta changes _meta.essync of index with change. _meta is replaced as a
// whole by Elasticsearch, so it reads, changes and writes back; other _meta
// keys are kept.
func SetMeta(ctx context.Context, es *elasticsearch.Client, index string, change func(*Meta)) error {
	metas, err := readMeta(ctx, es, index)
	if err != nil {
		return err
	}
	meta := metas[index]
	if meta == nil {
		meta = map[string]any{}
	}
	var essync Meta
	b, _ := json.Marshal(meta["essync"])
	if err := json.Unmarshal(b, &essync); err != nil {
		return fmt.Errorf("essync metadata of %s: %w", index, err)
	}
	change(&essync)
	meta["essync"] = essync
	b, _ = json.Marshal(map[string]any{"_meta": meta})
	res, err := es.Indices.PutMapping([]string{index}, bytes.NewReader(b), es.Indices.PutMapping.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("mark %s: %w", index, err)
	}
	if err := decode(res, nil); err != nil {
		return fmt.Errorf("mark %s: %w", index, err)
	}
	return nil
}

// readMeta returns the raw mapping _meta of every index that target names.
func readMeta(ctx context.Context, es *elasticsearch.Client, target string) (map[string]map[string]any, error) {
	res, err := es.Indices.GetMapping(es.Indices.GetMapping.WithIndex(target), es.Indices.GetMapping.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("mapping of %s: %w", target, err)
	}
	var m map[string]struct {
		Mappings struct {
			Meta map[string]any `json:"_meta"`
		} `json:"mappings"`
	}
	if err := decode(res, &m); err != nil {
		return nil, fmt.Errorf("mapping of %s: %w", target, err)
	}
	out := make(map[string]map[string]any, len(m))
	for name, v := range m {
		out[name] = v.Mappings.Meta
	}
	return out, nil
}

// ReadMeta returns the essync metadata of the index behind target (an index
// or an alias naming exactly one index).
func ReadMeta(ctx context.Context, es *elasticsearch.Client, target string) (index string, meta Meta, err error) {
	metas, err := readMeta(ctx, es, target)
	if err != nil {
		return "", Meta{}, err
	}
	if len(metas) != 1 {
		return "", Meta{}, fmt.Errorf("%s names %d indices, want exactly one", target, len(metas))
	}
	for name, raw := range metas {
		index = name
		b, _ := json.Marshal(raw["essync"])
		if err := json.Unmarshal(b, &meta); err != nil {
			return "", Meta{}, fmt.Errorf("essync metadata of %s: %w", name, err)
		}
	}
	return index, meta, nil
}

// AliasIndices returns the indices alias points to now (none if it does not exist).
func AliasIndices(ctx context.Context, es *elasticsearch.Client, alias string) ([]string, error) {
	res, err := es.Indices.GetAlias(es.Indices.GetAlias.WithName(alias), es.Indices.GetAlias.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("alias %s: %w", alias, err)
	}
	var m map[string]json.RawMessage
	if err := decode(res, &m); err != nil {
		if isStatus(err, 404) {
			return nil, nil
		}
		return nil, fmt.Errorf("alias %s: %w", alias, err)
	}
	var out []string
	for name := range m {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

// DeleteIndex deletes index; a missing index is not an error. It is how a
// run that failed its publish gate removes its half-built index.
func DeleteIndex(ctx context.Context, es *elasticsearch.Client, index string) error {
	res, err := es.Indices.Delete([]string{index}, es.Indices.Delete.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("delete %s: %w", index, err)
	}
	if err := decode(res, nil); err != nil && !isStatus(err, 404) {
		return fmt.Errorf("delete %s: %w", index, err)
	}
	return nil
}
