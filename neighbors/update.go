package neighbors

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
)

// Incremental maintenance. Removing an item only changes the lists that held
// it (its reverse neighbours): those are recomputed. Adding an item changes
// its own list and the lists of the items it now beats: new items are scored
// against every item by brute force, and the same scores are offered to the
// other side. Both steps are exact, so in exact mode Update gives what a fresh
// Build would; in approximate mode the untouched lists keep their recall.

// repairBudget bounds the pairs (affected items × all items) for which the
// reverse neighbours of removed items are recomputed by brute force in
// approximate mode; above it they search their two-hop neighbourhood instead.
const repairBudget = 64 << 20

// Update adds items (an id already present with a different vector is
// replaced: its image changed) and removes ids, and returns, sorted, every id
// whose top-K changed: the new and replaced items and every existing item
// whose list gained or lost an entry. Unknown ids in remove and ids added
// again with the same vector are ignored, so running the same Update twice
// changes nothing the second time.
func (g *Graph) Update(add map[string][]float32, remove []string) ([]string, error) {
	return g.UpdateContext(context.Background(), add, remove)
}

// UpdateContext is Update that stops early when ctx is cancelled and returns
// ctx.Err(); the graph is then half-updated and must be discarded.
func (g *Graph) UpdateContext(ctx context.Context, add map[string][]float32, remove []string) ([]string, error) {
	g.done = ctx.Done()
	defer func() { g.done = nil }()
	changed, err := g.update(add, remove)
	if err == nil && ctx.Err() != nil {
		return nil, fmt.Errorf("neighbors: update: %w", ctx.Err())
	}
	return changed, err
}

func (g *Graph) update(add map[string][]float32, remove []string) ([]string, error) {
	addIDs := make([]string, 0, len(add))
	for id, v := range add {
		if id == "" {
			return nil, fmt.Errorf("neighbors: update: empty id")
		}
		if len(v) != g.m.dims {
			return nil, fmt.Errorf("neighbors: update: %q has %d dims, want %d", id, len(v), g.m.dims)
		}
		var s float64
		for _, x := range v {
			s += float64(x) * float64(x)
		}
		if !(math.Abs(s-1) <= unitTolerance) {
			return nil, fmt.Errorf("neighbors: update: %q has norm %.6g, want unit length", id, math.Sqrt(s))
		}
		if i, ok := g.index[id]; ok && slices.Equal(g.m.rows[i], v) {
			continue // same vector again: nothing to do
		}
		addIDs = append(addIDs, id)
	}
	sort.Strings(addIDs)
	for _, id := range remove {
		if _, ok := add[id]; ok {
			return nil, fmt.Errorf("neighbors: update: %q is both added and removed", id)
		}
	}

	before := map[int32][]Neighbor{}
	touch := func(i int32) {
		if _, ok := before[i]; !ok {
			before[i] = g.neighborsOf(i)
		}
	}

	// Removals (replaced ids count as removed, then added again).
	gone := make([]bool, len(g.ids))
	var goneIdx []int32
	for _, id := range append(slices.Clone(remove), addIDs...) {
		if i, ok := g.index[id]; ok && !gone[i] {
			gone[i] = true
			goneIdx = append(goneIdx, i)
		}
	}
	// affected: items with a removed item in their reported top-K; their
	// lists are recomputed. Items holding one only beyond K (approximate
	// mode's longer working list) just drop it: their top-K stands.
	var affected, holders []int32
	lost := map[int32][]int32{} // affected item → former lists of the removed items it held
	if len(goneIdx) > 0 {
		for i, r := range g.m.rows {
			if r == nil || gone[i] {
				continue
			}
			idx, _ := g.l.row(int32(i))
			held := false
			for e, j := range idx {
				if !gone[j] {
					continue
				}
				held = true
				if e < g.opts.K {
					if _, seen := lost[int32(i)]; !seen {
						touch(int32(i))
						affected = append(affected, int32(i))
					}
					jdx, _ := g.l.row(j)
					lost[int32(i)] = append(lost[int32(i)], jdx...)
				}
			}
			if held {
				holders = append(holders, int32(i))
			}
		}
		for _, i := range holders {
			g.l.removeIf(i, func(j int32) bool { return gone[j] })
		}
		for _, i := range goneIdx {
			delete(g.index, g.ids[i])
			g.ids[i] = ""
			g.m.rows[i] = nil
			g.l.clearRow(i)
		}
	}

	// Reverse neighbours of removed items: recompute their lists, before
	// the additions, so that every list is full again when the new items
	// are offered to it (a short list takes every offer: with 0.5 % removed
	// and 1 % new that was 10 M offers at 100 000 items, growing with N²).
	if len(affected) > 0 {
		if live := g.live(); g.exact || len(affected)*len(live) <= repairBudget {
			g.recomputeRows(affected, live)
		} else {
			g.repairTwoHop(affected, lost)
		}
	}

	// Additions: brute force each new item against everything, offering the
	// scores to the other side too.
	var fresh []int32
	for _, id := range addIDs {
		i := int32(len(g.ids))
		g.ids = append(g.ids, id)
		g.index[id] = i
		g.m.rows = append(g.m.rows, slices.Clone(add[id]))
		fresh = append(fresh, i)
	}
	g.l.grow(len(g.ids))
	live := g.live()
	if len(fresh) > 0 {
		offers := make([][]offer, g.opts.Workers)
		isFresh := func(c int32) bool { return c >= fresh[0] }
		if g.exact || len(live) < searchAbove {
			res := g.exactRows(fresh, live, g.l.k, func(w int, c, q int32, s float32) {
				if !isFresh(c) {
					offers[w] = append(offers[w], offer{c, q, s})
				}
			})
			for t, i := range fresh {
				idx, sim := res.row(int32(t))
				for e, j := range idx {
					g.l.insert(i, j, sim[e], 0)
				}
			}
		} else {
			g.searchInsert(fresh, live, func(w int, c, q int32, s float32) {
				offers[w] = append(offers[w], offer{c, q, s})
			})
		}
		for _, p := range offers {
			for _, o := range p {
				if s := o.s; s >= g.l.floorAt(o.to, g.opts.K) {
					touch(o.to)
					g.l.insert(o.to, o.from, s, 0)
				}
			}
		}
	}

	changed := make([]string, 0, len(fresh)+len(before))
	for _, i := range fresh {
		changed = append(changed, g.ids[i])
	}
	for i, old := range before {
		if g.m.rows[i] != nil && !slices.Equal(old, g.neighborsOf(i)) {
			changed = append(changed, g.ids[i])
		}
	}
	sort.Strings(changed)
	return changed, nil
}

// repairTwoHop refills the lists of items that lost entries from their
// neighbours' neighbours and the removed items' former neighbours, scored
// exactly. Candidates are gathered before any list changes.
func (g *Graph) repairTwoHop(items []int32, lost map[int32][]int32) {
	cands := make([][]int32, len(items))
	parallel(g.opts.Workers, len(items), func(_, t int) {
		i := items[t]
		seen := map[int32]bool{i: true}
		var cs []int32
		add := func(j int32) {
			if !seen[j] && g.m.rows[j] != nil {
				seen[j] = true
				cs = append(cs, j)
			}
		}
		idx, _ := g.l.row(i)
		for _, j := range idx {
			add(j)
			nj, _ := g.l.row(j)
			for _, x := range nj {
				add(x)
			}
		}
		for _, j := range lost[i] {
			add(j)
		}
		cands[t] = cs
	})
	parallel(g.opts.Workers, len(items), func(_, t int) {
		i, cs := items[t], cands[t]
		sims := make([]float32, len(cs))
		g.m.dots(i, cs, sims)
		for e, j := range cs {
			g.l.insert(i, j, sims[e], 0)
		}
	})
}
