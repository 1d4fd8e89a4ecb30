package pipeline

import (
	"encoding/json"
	"iter"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/groups"
	"github.com/essync/essync/neighbors"
)

// changeKind is what one write of an incremental run does.
type changeKind uint8

const (
	writeProduct  changeKind = iota // the whole product document (new, changed image or fields)
	updateGroup                     // a partial update of the product document's group_id
	writeList                       // the product's list document (list and offer group) in the similar index
	deleteProduct                   // the product document
	deleteList                      // the list document
)

// change is one write an incremental run makes; its body is encoded only
// when the bulk load asks for it (changeSet.ops), so a run that writes 1 % of a
// million products does not hold every body at once.
type change struct {
	id   string
	kind changeKind
}

// toLists tells whether the change goes to the similar index.
func (c change) toLists() bool { return c.kind == writeList || c.kind == deleteList }

// changeSet is an incremental run's writes with what encodes their bulk
// operations: ops encodes them one at a time, as the bulk load takes them.
type changeSet struct {
	changes                []change
	p                      *plan
	g                      *neighbors.Graph
	grp                    *groups.Result
	lists, model, syncedAt string // the similar index, the model, the documents' synced_at
	err                    error  // the encoding error that stopped ops early
}

// ops encodes the changes' bulk operations one at a time; an encoding
// error stops the stream and is left in set.err.
func (set *changeSet) ops() iter.Seq[esindex.Op] {
	p, g, grp, lists, model, syncedAt := set.p, set.g, set.grp, set.lists, set.model, set.syncedAt
	return func(yield func(esindex.Op) bool) {
		for _, c := range set.changes {
			var op esindex.Op
			switch c.kind {
			case writeProduct:
				it := p.get(c.id)
				gid, _ := grp.Of(c.id)
				body, e := encodeDocument(productFields(it.Product), Document{ProductID: c.id, ImageName: it.ImageName, ImageSHA256: it.SHA256, Vector: it.Vector,
					GroupID: gid, Model: model, SyncedAt: syncedAt})
				if e != nil {
					set.err = e
					return
				}
				op = esindex.Op{Action: "index", ID: c.id, Body: body}
			case updateGroup:
				gid, _ := grp.Of(c.id)
				op = esindex.Op{Action: "update", ID: c.id, Body: groupUpdate(gid, syncedAt)}
			case writeList:
				gid, size := grp.Of(c.id)
				op = listDocument(c.id, g.Neighbors(c.id), gid, size, lists)
			case deleteProduct:
				op = esindex.Op{Action: "delete", ID: c.id}
			case deleteList:
				op = esindex.Op{Action: "delete", ID: c.id, Index: lists}
			}
			if !yield(op) {
				return
			}
		}
	}
}

// groupUpdate is the partial update that replaces a product document's
// group_id (its group's size is in the list document).
func groupUpdate(groupID string, syncedAt string) []byte {
	body, _ := json.Marshal(map[string]any{"doc": map[string]any{
		"group_id": groupID, "essync": map[string]string{"synced_at": syncedAt},
	}})
	return body
}
