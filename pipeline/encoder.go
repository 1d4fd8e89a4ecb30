package pipeline

import (
	"iter"
	"time"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
	"github.com/essync/essync/npy"
)

// encoder renders documents as they are sent, so a run never holds more
// than the bulk requests in flight: an iter.Seq of ops — each product's
// document, then its list document for the similar index — that stops at
// the first document that cannot be encoded (err says which) and adds up the
// time spent encoding (the "documents" stage, inside "index" or "write").
type encoder struct {
	items    []item
	g        *neighbors.Graph
	grp      *groups.Result
	model    string
	syncedAt string
	// lists is the similar index the list documents go to (Op.Index).
	lists string
	err   error
	// mapped is the --vectors mapping the items' vectors are views of, or
	// nil: its pages are dropped behind the encoder (pager.go).
	mapped   []float32
	spent    time.Duration
	recorded time.Duration
}

func newEncoder(items []item, g *neighbors.Graph, grp *groups.Result, model, syncedAt, lists string) *encoder {
	return &encoder{items: items, g: g, grp: grp, model: model, syncedAt: syncedAt, lists: lists}
}

// all yields every item's documents, in item order.
func (e *encoder) all() iter.Seq[esindex.Op] { return e.some(nil) }

// some yields the documents and list documents of ids (nil: every item).
func (e *encoder) some(ids []string) iter.Seq[esindex.Op] {
	return func(yield func(esindex.Op) bool) {
		emit := func(it item) bool {
			start := time.Now()
			op, err := encodeItem(it, e.grp, e.model, e.syncedAt)
			gid, size := e.grp.Of(it.ID)
			list := listDocument(it.ID, e.g.Neighbors(it.ID), gid, size, e.lists)
			e.spent += time.Since(start)
			if err != nil {
				e.err = err
				return false
			}
			return yield(op) && yield(list)
		}
		if ids == nil {
			for i, it := range e.items {
				if !emit(it) {
					return
				}
				if e.mapped != nil && (i+1)%dropEvery == 0 {
					npy.DropPages(e.mapped) // the rows encoded so far are done with
				}
			}
			return
		}
		byID := e.index()
		for _, id := range ids {
			if !emit(e.items[byID[id]]) {
				return
			}
		}
	}
}

func (e *encoder) index() map[string]int {
	byID := make(map[string]int, len(e.items))
	for i, it := range e.items {
		byID[it.ID] = i
	}
	return byID
}

// record adds the encoding time not yet recorded to the report.
func (e *encoder) record(rep *Report) {
	rep.StageSeconds["documents"] += (e.spent - e.recorded).Seconds()
	e.recorded = e.spent
}

// encodeItem renders the product document of it (its list document is
// listDocument's).
func encodeItem(it item, grp *groups.Result, model, syncedAt string) (esindex.Op, error) {
	gid, _ := grp.Of(it.ID)
	body, err := encodeDocument(productFields(it.Product), Document{
		ProductID: it.ID, ImageName: it.ImageName, ImageSHA256: it.SHA256, Vector: it.Vector,
		GroupID: gid, Model: model, SyncedAt: syncedAt,
	})
	return esindex.Op{Action: "index", ID: it.ID, Body: body}, err
}
