package pipeline

// The plan's storage: every product that belongs in the index, found by its
// snapshot row or, when new, by id.

import "slices"

// plan is what the catalog and the live index say must happen. The
// products that belong in the index are a slice, found by the snapshot's
// row (a slice beside it) or, for the few new ones, by a small map: no map
// of every product on top of the snapshot's.
type plan struct {
	items   []item           // every product that belongs in the index, with its vector
	known   []int32          // by snapshot row: the product's index in items, or -1
	fresh   map[string]int   // new products: index in items
	rowOf   map[string]int32 // the snapshot's rows by id (snapshot.row)
	kept    int              // products in the plan (items less the dropped)
	added   map[string][]float32
	removed []string
	// written holds the fresh record of every product an earlier round of
	// this run wrote (see writeIncremental's rounds after refusals): the
	// index holds that, not the snapshot's record.
	written map[string]record
	// lists says which lists the neighbour restore took from the
	// snapshot as stored; nil when it took none so (see keptLists).
	lists *keptLists
	// listsChanged says the neighbour stage changed a list: the restore
	// repaired or re-scored lists, or the update added or removed items.
	listsChanged bool
}

// keptLists says which neighbour lists an incremental run holds exactly as
// the snapshot stored them: restored with their stored similarities (a
// format-3 snapshot of this machine) and left alone by the update.
type keptLists struct {
	touched  map[string]bool // ids whose list the restore repaired or the update changed
	repaired int             // lists the restore recomputed
}

// kept tells whether id's list is the snapshot's, unchanged.
func (k *keptLists) kept(id string) bool { return k != nil && !k.touched[id] }

func newPlan(snap *snapshot, products int) *plan {
	p := &plan{items: make([]item, 0, products), known: make([]int32, len(snap.ids)), fresh: map[string]int{},
		rowOf: snap.row, added: map[string][]float32{}, written: map[string]record{}}
	for i := range p.known {
		p.known[i] = -1
	}
	return p
}

// put adds a product to the plan.
func (p *plan) put(it item) {
	if row, ok := p.rowOf[it.ID]; ok {
		p.known[row] = int32(len(p.items))
	} else {
		p.fresh[it.ID] = len(p.items)
	}
	p.items = append(p.items, it)
	p.kept++
}

// index returns the product's index in items, or -1 when the plan does not
// hold it.
func (p *plan) index(id string) int {
	if row, ok := p.rowOf[id]; ok {
		return int(p.known[row])
	}
	if i, ok := p.fresh[id]; ok {
		return i
	}
	return -1
}

// get returns the plan's product id (the zero item when it holds none).
func (p *plan) get(id string) *item {
	if i := p.index(id); i >= 0 {
		return &p.items[i]
	}
	return &item{}
}

// drop takes a new product out of the plan (Elasticsearch refused it).
func (p *plan) drop(id string) {
	if i := p.index(id); i >= 0 {
		if row, ok := p.rowOf[id]; ok {
			p.known[row] = -1
		} else {
			delete(p.fresh, id)
		}
		p.items[i] = item{}
		p.kept--
	}
	delete(p.added, id)
}

// count is the number of products in the plan.
func (p *plan) count() int { return p.kept }

// all returns the plan's products in catalog row order.
func (p *plan) all() []item {
	out := make([]item, 0, p.kept)
	for i, it := range p.items {
		if p.index(it.ID) == i {
			out = append(out, it)
		}
	}
	slices.SortFunc(out, func(a, b item) int { return a.Row - b.Row })
	return out
}
