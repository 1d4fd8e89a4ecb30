package neighbors

// Exact search: blocked brute force. Items are cut into blocks of exactBlock
// rows; a worker takes one row block at a time (kept in L2) and sweeps it
// against every later column block, so each pair is scored once and offered
// to both items' lists. Each worker keeps its own lists, merged at the end,
// so no locks are needed and the result does not depend on scheduling.

const exactBlock = 64

// exactAll fills g.l with the exact top-K of every live item.
func (g *Graph) exactAll(live []int32) {
	k := g.opts.K
	nb := (len(live) + exactBlock - 1) / exactBlock
	block := func(b int) []int32 { return live[b*exactBlock : min((b+1)*exactBlock, len(live))] }
	workers := max(1, min(g.opts.Workers, nb))
	local := make([]*lists, workers)
	for w := range local {
		local[w] = newLists(len(g.ids), k, &g.ids)
	}
	bufs := make([][]float32, workers)
	parallel(workers, nb, func(w, bi int) {
		if g.stopped() {
			return
		}
		if bufs[w] == nil {
			bufs[w] = make([]float32, exactBlock*exactBlock)
		}
		l, out := local[w], bufs[w]
		rs := block(bi)
		for bj := bi; bj < nb; bj++ {
			cs := block(bj)
			g.m.tile(rs, cs, out)
			for r, a := range rs {
				fa := l.floor(a)
				c0 := 0
				if bj == bi {
					c0 = r + 1
				}
				row := out[r*len(cs) : (r+1)*len(cs)]
				for c := c0; c < len(cs); c++ {
					s, b := row[c], cs[c]
					if s >= fa && l.insert(a, b, s, 0) {
						fa = l.floor(a)
					}
					if s >= l.floor(b) {
						l.insert(b, a, s, 0)
					}
				}
			}
		}
	})
	g.mergeLists(local, live)
}

// mergeLists offers every worker's rows to g.l, item by item in parallel.
func (g *Graph) mergeLists(local []*lists, items []int32) {
	parallel(g.opts.Workers, len(items), func(_, t int) {
		i := items[t]
		for _, l := range local {
			idx, sim := l.row(i)
			for e, j := range idx {
				g.l.insert(i, j, sim[e], 0)
			}
		}
	})
}

// exactRows returns the exact top-k of each query qs[r] among cs (itself
// excluded), as lists whose row r belongs to qs[r]. When offer is not nil it
// also receives every (c, q, s) whose score reaches the floor of c's reported
// top-K in g.l, so callers can update the items on the other side of new
// queries. (Not the working list's floor: after Restore those lists are not
// full, and every pair would be offered.)
func (g *Graph) exactRows(qs, cs []int32, k int, offer func(w int, c, q int32, s float32)) *lists {
	res := newLists(len(qs), k, &g.ids)
	nq := (len(qs) + exactBlock - 1) / exactBlock
	const colBlock = 4 * exactBlock
	bufs := make([][]float32, g.opts.Workers)
	parallel(g.opts.Workers, nq, func(w, bi int) {
		if g.stopped() {
			return
		}
		if bufs[w] == nil {
			bufs[w] = make([]float32, exactBlock*colBlock)
		}
		out := bufs[w]
		lo := bi * exactBlock
		rs := qs[lo:min(lo+exactBlock, len(qs))]
		for c0 := 0; c0 < len(cs); c0 += colBlock {
			cb := cs[c0:min(c0+colBlock, len(cs))]
			g.m.tile(rs, cb, out)
			for r, a := range rs {
				pos := int32(lo + r)
				fa := res.floor(pos)
				row := out[r*len(cb) : (r+1)*len(cb)]
				for c, s := range row {
					b := cb[c]
					if b == a {
						continue
					}
					if s >= fa && res.insert(pos, b, s, 0) {
						fa = res.floor(pos)
					}
					if offer != nil && s >= g.l.floorAt(b, g.opts.K) {
						offer(w, b, a, s)
					}
				}
			}
		}
	})
	return res
}
