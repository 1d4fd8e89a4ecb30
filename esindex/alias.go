package esindex

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/mappings"
)

// SwapAlias points alias at index in one _aliases call, removing it from every
// index it named before, so readers switch atomically and never see a missing
// or doubled alias. It returns the indices the alias named before.
func SwapAlias(ctx context.Context, es *elasticsearch.Client, alias, index string) ([]string, error) {
	if concrete, err := indexExists(ctx, es, alias); err != nil {
		return nil, err
	} else if concrete {
		return nil, fmt.Errorf("an index named %q exists, so it cannot be an alias; delete or reindex it, or choose another --index", alias)
	}
	previous, err := AliasIndices(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	var actions []map[string]any
	for _, old := range previous {
		if old != index {
			actions = append(actions, map[string]any{"remove": map[string]any{"index": old, "alias": alias}})
		}
	}
	actions = append(actions, map[string]any{"add": map[string]any{"index": index, "alias": alias, "is_write_index": true}})
	body, _ := json.Marshal(map[string]any{"actions": actions})
	res, err := es.Indices.UpdateAliases(strings.NewReader(string(body)), es.Indices.UpdateAliases.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("swap alias %s to %s: %w", alias, index, err)
	}
	if err := decode(res, nil); err != nil {
		return nil, fmt.Errorf("swap alias %s to %s: %w", alias, index, err)
	}
	return previous, nil
}

func indexExists(ctx context.Context, es *elasticsearch.Client, name string) (bool, error) {
	res, err := es.Indices.Exists([]string{name}, es.Indices.Exists.WithContext(ctx), es.Indices.Exists.WithAllowNoIndices(false), es.Indices.Exists.WithIgnoreUnavailable(false))
	if err != nil {
		return false, fmt.Errorf("check index %s: %w", name, err)
	}
	res.Body.Close()
	if res.StatusCode == 404 {
		return false, nil
	}
	if res.IsError() {
		return false, fmt.Errorf("check index %s: %s", name, res.Status())
	}
	// HEAD on an alias also answers 200: only a concrete index counts.
	aliased, err := AliasIndices(ctx, es, name)
	if err != nil {
		return false, err
	}
	return len(aliased) == 0, nil
}

// SimilarIndexOf returns the similar index that pairs with alias's
// concrete product index: <alias>-<ts> ↔ <alias>-similar-<ts> (see
// mappings.SimilarAlias). ok is false for an index that is not alias's.
func SimilarIndexOf(alias, index string) (similar string, ok bool) {
	if !isManaged(alias, index) {
		return "", false
	}
	return mappings.SimilarAlias(alias) + strings.TrimPrefix(index, alias), true
}

// pairedName splits a concrete index name <alias>-<timestamp>.
var pairedName = regexp.MustCompile(`^(.+)-(\d{8}-\d{6}\.\d{3})$`)

// SimilarIndexFor returns the similar index that pairs with a concrete
// product index when only the index's name is known (not its alias):
// <alias>-<ts> ↔ <alias>-similar-<ts>.
func SimilarIndexFor(index string) (similar string, ok bool) {
	m := pairedName.FindStringSubmatch(index)
	if m == nil {
		return "", false
	}
	return mappings.SimilarAlias(m[1]) + "-" + m[2], true
}

// SwapPair puts a product index and its similar index live together: alias
// moves to index and alias-similar to its pair, in one _aliases call, so a
// reader never sees products without their lists or lists of other
// products. It returns the product indices alias named before.
func SwapPair(ctx context.Context, es *elasticsearch.Client, alias, index string) ([]string, error) {
	similar, ok := SimilarIndexOf(alias, index)
	if !ok {
		return nil, fmt.Errorf("swap alias %s to %s: not one of its concrete indices (%s-<timestamp>)", alias, index, alias)
	}
	simAlias := mappings.SimilarAlias(alias)
	var actions []map[string]any
	var previous []string
	for _, pair := range [][2]string{{alias, index}, {simAlias, similar}} {
		if concrete, err := indexExists(ctx, es, pair[0]); err != nil {
			return nil, err
		} else if concrete {
			return nil, fmt.Errorf("an index named %q exists, so it cannot be an alias; delete or reindex it, or choose another --index", pair[0])
		}
		before, err := AliasIndices(ctx, es, pair[0])
		if err != nil {
			return nil, err
		}
		if pair[0] == alias {
			previous = before
		}
		for _, old := range before {
			if old != pair[1] {
				actions = append(actions, map[string]any{"remove": map[string]any{"index": old, "alias": pair[0]}})
			}
		}
		actions = append(actions, map[string]any{"add": map[string]any{"index": pair[1], "alias": pair[0], "is_write_index": true}})
	}
	body, _ := json.Marshal(map[string]any{"actions": actions})
	res, err := es.Indices.UpdateAliases(strings.NewReader(string(body)), es.Indices.UpdateAliases.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("swap aliases %s and %s to %s and %s: %w", alias, simAlias, index, similar, err)
	}
	if err := decode(res, nil); err != nil {
		return nil, fmt.Errorf("swap aliases %s and %s to %s and %s: %w", alias, simAlias, index, similar, err)
	}
	return previous, nil
}

// ManagedIndex is one of an alias's concrete product indices, with the
// similar index of the same timestamp when there is one.
type ManagedIndex struct {
	Name     string
	Complete bool // loaded and verified (FinishLoad ran)
	Live     bool // the alias points at it now
	// Similar names its similar index ("" when there is none: a run
	// killed before it made one, or an index of essync before schema 3);
	// SimilarComplete says FinishLoad ran on it.
	Similar         string
	SimilarComplete bool
}

// Paired reports whether the index and its similar index are both complete:
// only such a pair may go live again (rollback) or be kept for it (prune).
func (m ManagedIndex) Paired() bool { return m.Complete && m.Similar != "" && m.SimilarComplete }

// ListIndices returns alias's concrete product indices, oldest first, each
// with its similar index. Indices of alias-similar are never taken for the
// alias's own: their suffix after "<alias>-" is not a bare timestamp.
func ListIndices(ctx context.Context, es *elasticsearch.Client, alias string) ([]ManagedIndex, error) {
	products, err := managedMetas(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	similar, err := managedMetas(ctx, es, mappings.SimilarAlias(alias))
	if err != nil {
		return nil, err
	}
	live, err := AliasIndices(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	var out []ManagedIndex
	for name, complete := range products {
		m := ManagedIndex{Name: name, Complete: complete, Live: slices.Contains(live, name)}
		if s, _ := SimilarIndexOf(alias, name); s != "" {
			if done, ok := similar[s]; ok {
				m.Similar, m.SimilarComplete = s, done
			}
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b ManagedIndex) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// orphanSimilar returns alias's similar indices whose product index is gone,
// oldest first: leftovers of a run killed between creating the two.
func orphanSimilar(ctx context.Context, es *elasticsearch.Client, alias string, indices []ManagedIndex) ([]string, error) {
	similar, err := managedMetas(ctx, es, mappings.SimilarAlias(alias))
	if err != nil {
		return nil, err
	}
	for _, m := range indices {
		delete(similar, m.Similar)
	}
	return slices.Sorted(maps.Keys(similar)), nil
}

// managedMetas returns alias's concrete indices by name, each with whether
// it is complete.
func managedMetas(ctx context.Context, es *elasticsearch.Client, alias string) (map[string]bool, error) {
	metas, err := readMeta(ctx, es, alias+"-*")
	if err != nil {
		if isStatus(err, 404) {
			return map[string]bool{}, nil
		}
		return nil, err
	}
	out := map[string]bool{}
	for name, meta := range metas {
		if !isManaged(alias, name) {
			continue
		}
		var essync Meta
		b, _ := json.Marshal(meta["essync"])
		json.Unmarshal(b, &essync) // no or foreign metadata: not complete
		out[name] = essync.Complete
	}
	return out, nil
}

// Prune deletes alias's old index pairs (product index and its similar
// index), keeping the live one and the newest keep complete pairs before it
// (for rollback). Incomplete pairs older than the live one are leftovers of
// killed runs and go too, as do similar indices whose product index is
// gone; newer ones may belong to a run in progress and stay. Only the
// holder of the alias's lease prunes, so no other run can be loading one
// of these indices meanwhile.
func Prune(ctx context.Context, es *elasticsearch.Client, alias string, keep int) (deleted []string, err error) {
	indices, err := ListIndices(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	liveAt := slices.IndexFunc(indices, func(m ManagedIndex) bool { return m.Live })
	if liveAt < 0 {
		return nil, nil // nothing is live: never delete what might be the only copy
	}
	var doomed []string
	kept := 0
	for i := liveAt - 1; i >= 0; i-- {
		m := indices[i]
		if m.Paired() && kept < keep {
			kept++
			continue
		}
		doomed = append(doomed, m.Name)
		if m.Similar != "" {
			doomed = append(doomed, m.Similar)
		}
	}
	orphans, err := orphanSimilar(ctx, es, alias, indices)
	if err != nil {
		return nil, err
	}
	liveSimilar, _ := SimilarIndexOf(alias, indices[liveAt].Name)
	for _, o := range orphans {
		if o < liveSimilar { // same timestamps: older than the live pair
			doomed = append(doomed, o)
		}
	}
	for _, name := range doomed {
		res, err := es.Indices.Delete([]string{name}, es.Indices.Delete.WithContext(ctx))
		if err != nil {
			return deleted, fmt.Errorf("delete %s: %w", name, err)
		}
		if err := decode(res, nil); err != nil && !isStatus(err, 404) {
			return deleted, fmt.Errorf("delete %s: %w", name, err)
		}
		slog.Info("pruned old index", "index", name)
		deleted = append(deleted, name)
	}
	return deleted, nil
}

// Rollback points alias and alias-similar back at the newest complete pair
// older than the live one and returns the product index's name. Indices of
// essync before schema 3 have no similar index and are not rolled back to.
func Rollback(ctx context.Context, es *elasticsearch.Client, alias string) (string, error) {
	indices, err := ListIndices(ctx, es, alias)
	if err != nil {
		return "", err
	}
	liveAt := slices.IndexFunc(indices, func(m ManagedIndex) bool { return m.Live })
	if liveAt < 0 {
		return "", fmt.Errorf("alias %s points at no essync index; nothing to roll back", alias)
	}
	for i := liveAt - 1; i >= 0; i-- {
		if indices[i].Paired() {
			if _, err := SwapPair(ctx, es, alias, indices[i].Name); err != nil {
				return "", err
			}
			return indices[i].Name, nil
		}
	}
	return "", fmt.Errorf("alias %s has no complete index pair (products and similar lists) older than %s to roll back to (raise --keep to keep more; indices of essync before schema 3 have no similar index)", alias, indices[liveAt].Name)
}
