package pipeline

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/essync/essync/catalog"
)

// TestApplyRenamesOnRecords checks that a catalog read with RecordsOnly
// (as incremental reads it) is renamed and refused exactly as one read
// with parsed fields: the same fields after, the same collisions, also for
// a key written with escapes.
func TestApplyRenamesOnRecords(t *testing.T) {
	tests := []struct {
		name    string
		record  string
		renames map[string]string
		want    map[string]string // fields after, as JSON text; nil: refused
		refused string
	}{
		{"no renames, no collision", `{"productId":"a","imageName":"a.jpg","title":"x"}`, nil,
			map[string]string{"productId": `"a"`, "imageName": `"a.jpg"`, "title": `"x"`}, ""},
		{"renamed", `{"productId":"a","imageName":"a.jpg","group_id":"g7"}`, map[string]string{"group_id": "shop_group"},
			map[string]string{"productId": `"a"`, "imageName": `"a.jpg"`, "shop_group": `"g7"`}, ""},
		{"collision", `{"productId":"a","imageName":"a.jpg","similar":[1]}`, nil, nil, "similar (1 products)"},
		{"collision written with escapes", `{"productId":"a","imageName":"a.jpg","gr\u006fup_size":3}`, nil, nil, "group_size (1 products)"},
		{"rename target taken", `{"productId":"a","imageName":"a.jpg","old":1,"new":2}`, map[string]string{"old": "new"}, nil, "already has a field new"},
		{"a value naming a reserved field", `{"productId":"a","imageName":"a.jpg","note":"essync"}`, nil,
			map[string]string{"productId": `"a"`, "imageName": `"a.jpg"`, "note": `"essync"`}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, recordsOnly := range []bool{false, true} {
				products, _, err := catalog.ReadReader(strings.NewReader(tt.record+"\n"), "test.ndjson", catalog.Options{ImagesOptional: true, RecordsOnly: recordsOnly})
				if err != nil || len(products) != 1 {
					t.Fatalf("read: %v, %d products", err, len(products))
				}
				err = applyRenames(products, tt.renames, catalog.Options{})
				if tt.want == nil {
					if !errors.Is(err, ErrUsage) || !strings.Contains(err.Error(), tt.refused) {
						t.Errorf("records only %v: err %v, want a usage error naming %q", recordsOnly, err, tt.refused)
					}
					continue
				}
				if err != nil {
					t.Fatalf("records only %v: %v", recordsOnly, err)
				}
				got := map[string]string{}
				for k, v := range productFields(products[0]) {
					got[k] = string(v)
				}
				if !reflect.DeepEqual(got, tt.want) {
					t.Errorf("records only %v: fields %v, want %v", recordsOnly, got, tt.want)
				}
				if v := productField(products[0], "productId"); string(v) != `"a"` {
					t.Errorf("records only %v: field productId %s", recordsOnly, v)
				}
			}
		})
	}
}
