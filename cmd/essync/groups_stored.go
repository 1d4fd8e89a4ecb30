package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/urfave/cli/v2"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/mappings"
)

// runStoredGroups prints the offer groups the last sync stored: since
// schema 4 every list document of <index>-similar carries its product's
// group_id and group_size, so one scan of that small index (no vectors)
// gives every group; --fields come from the product index.
func runStoredGroups(c *cli.Context, format string, wanted []string) error {
	es, err := esindex.NewClient(*esConfig(c))
	if err != nil {
		return cli.Exit(err.Error(), exitFailure)
	}
	index := c.String("index")
	lists := mappings.SimilarAlias(index)
	members := map[string][]string{} // group_id -> product ids
	stored := map[string]int{}       // group_id -> the group_size its list documents say
	err = esindex.Scan(c.Context, es, lists, []string{"group_id", "group_size"}, 5000, func(d esindex.StoredDoc) error {
		doc, err := esindex.DecodeList(d.Source)
		if err != nil {
			return fmt.Errorf("%s list document %s: %w", lists, d.ID, err)
		}
		if doc.GroupID == "" {
			return fmt.Errorf("%s list document %s has no group_id: the index was built before schema 4; run essync full, or leave out --stored", lists, d.ID)
		}
		members[doc.GroupID] = append(members[doc.GroupID], d.ID)
		stored[doc.GroupID] = doc.GroupSize
		return nil
	})
	if err != nil {
		return cli.Exit(fmt.Sprintf("read %s: %v", lists, err), exitFailure)
	}
	if len(members) == 0 {
		return cli.Exit(fmt.Sprintf("%s holds no list documents: run essync full first", lists), exitFailure)
	}
	var out []groupJSON
	in := map[string]bool{} // products of the groups printed
	for gid, ids := range members {
		if len(ids) != stored[gid] {
			slog.Warn("a stored group_size is not the number of its members; essync verify reports it", "group_id", gid, "group_size", stored[gid], "members", len(ids))
		}
		if len(ids) < c.Int("min-size") {
			continue
		}
		slices.Sort(ids)
		g := groupJSON{GroupID: gid, Size: len(ids), Members: make([]memberJSON, len(ids))}
		for i, id := range ids {
			g.Members[i] = memberJSON{ProductID: id}
			in[id] = true
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b groupJSON) int {
		return cmp.Or(cmp.Compare(b.Size, a.Size), cmp.Compare(a.GroupID, b.GroupID))
	})
	if len(wanted) > 0 {
		fields := map[string]map[string]json.RawMessage{}
		err := esindex.Scan(c.Context, es, index, wanted, 2000, func(d esindex.StoredDoc) error {
			if !in[d.ID] {
				return nil
			}
			var all map[string]json.RawMessage
			if err := json.Unmarshal(d.Source, &all); err != nil {
				return fmt.Errorf("%s document %s: %w", index, d.ID, err)
			}
			fields[d.ID] = all
			return nil
		})
		if err != nil {
			return cli.Exit(fmt.Sprintf("read %s: %v", index, err), exitFailure)
		}
		for _, g := range out {
			for i, m := range g.Members {
				g.Members[i].Fields = pick(fields[m.ProductID], wanted)
			}
		}
	}
	w, closeOut, err := groupsOutput(c)
	if err != nil {
		return err
	}
	defer closeOut()
	if err := writeGroups(w, format, out, wanted); err != nil {
		return cli.Exit(fmt.Sprintf("write groups: %v", err), exitFailure)
	}
	slog.Info("stored groups", "index", lists, "groups", len(members), "printed", len(out), "products", len(in))
	return nil
}
