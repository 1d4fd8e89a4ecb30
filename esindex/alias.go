package esindex

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
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

// ManagedIndex is one of an alias's concrete indices.
type ManagedIndex struct {
	Name     string
	Complete bool // loaded and verified (FinishLoad ran)
	Live     bool // the alias points at it now
}

// ListIndices returns alias's concrete indices, oldest first.
func ListIndices(ctx context.Context, es *elasticsearch.Client, alias string) ([]ManagedIndex, error) {
	metas, err := readMeta(ctx, es, alias+"-*")
	if err != nil {
		if isStatus(err, 404) {
			return nil, nil
		}
		return nil, err
	}
	live, err := AliasIndices(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	var out []ManagedIndex
	for name, meta := range metas {
		if !isManaged(alias, name) {
			continue
		}
		var essync Meta
		b, _ := json.Marshal(meta["essync"])
		json.Unmarshal(b, &essync) // no or foreign metadata: not complete
		out = append(out, ManagedIndex{Name: name, Complete: essync.Complete, Live: slices.Contains(live, name)})
	}
	slices.SortFunc(out, func(a, b ManagedIndex) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Prune deletes alias's old indices, keeping the live one and the newest keep
// complete indices before it (for rollback). Incomplete indices older than the
// live one are leftovers of killed runs and go too; newer ones may belong to a
// run in progress and stay. Only the holder of the alias's lease prunes, so
// no other run can be loading one of these indices meanwhile.
func Prune(ctx context.Context, es *elasticsearch.Client, alias string, keep int) (deleted []string, err error) {
	indices, err := ListIndices(ctx, es, alias)
	if err != nil {
		return nil, err
	}
	liveAt := slices.IndexFunc(indices, func(m ManagedIndex) bool { return m.Live })
	if liveAt < 0 {
		return nil, nil // nothing is live: never delete what might be the only copy
	}
	kept := 0
	for i := liveAt - 1; i >= 0; i-- {
		m := indices[i]
		if m.Complete && kept < keep {
			kept++
			continue
		}
		res, err := es.Indices.Delete([]string{m.Name}, es.Indices.Delete.WithContext(ctx))
		if err != nil {
			return deleted, fmt.Errorf("delete %s: %w", m.Name, err)
		}
		if err := decode(res, nil); err != nil && !isStatus(err, 404) {
			return deleted, fmt.Errorf("delete %s: %w", m.Name, err)
		}
		slog.Info("pruned old index", "index", m.Name, "complete", m.Complete)
		deleted = append(deleted, m.Name)
	}
	return deleted, nil
}

// Rollback points alias back at the newest complete index older than the live
// one and returns its name.
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
		if indices[i].Complete {
			if _, err := SwapAlias(ctx, es, alias, indices[i].Name); err != nil {
				return "", err
			}
			return indices[i].Name, nil
		}
	}
	return "", fmt.Errorf("alias %s has no complete index older than %s to roll back to (raise --keep to keep more)", alias, indices[liveAt].Name)
}
