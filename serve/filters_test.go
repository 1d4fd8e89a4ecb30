package serve

import (
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/essync/essync/esindex"
)

func ptr(f float64) *float64 { return &f }

func TestParseQueryAndResolveFilters(t *testing.T) {
	types := map[string]string{"shop": "text", "shop.keyword": "keyword", "price": "double", "sku": "double",
		"brand": "keyword", "notes": "text", "in_stock": "boolean", "group_id": "keyword", "attrs": "object"}
	for _, tc := range []struct {
		query string
		want  []esindex.Filter // nil with err: refused
		k     int
		err   string
	}{
		{query: "", want: []esindex.Filter{}},
		{query: "k=5", k: 5, want: []esindex.Filter{}},
		{query: "filter.shop=a&filter.shop=b", want: []esindex.Filter{{Field: "shop.keyword", Values: []string{"a", "b"}}}},
		{query: "filter.brand=x&min.price=10&max.price=20.5", want: []esindex.Filter{
			{Field: "brand", Values: []string{"x"}}, {Field: "price", Min: ptr(10), Max: ptr(20.5)}}},
		{query: "filter.in_stock=true&filter.sku=1001", want: []esindex.Filter{
			{Field: "in_stock", Values: []string{"true"}}, {Field: "sku", Values: []string{"1001"}}}},
		{query: "k=0", err: "at least 1"},
		{query: "k=ten", err: "at least 1"},
		{query: "q=shoes", err: "unknown parameter"},
		{query: "sort.price=asc", err: "unknown parameter"},
		{query: "min.price=cheap", err: "want a number"},
		{query: "filter.colour=red", err: "unknown catalog field"},
		{query: "filter.group_id=g-1", err: "not a catalog field"},
		{query: "filter.similar_pi=p-1", err: "not a catalog field"},
		{query: "min.shop=1", err: "not a number"},
		{query: "filter.price=cheap", err: "number field"},
		{query: "filter.notes=x", err: "keyword sub-field"},
		{query: "filter.attrs=x", err: "cannot filter"},
	} {
		v, _ := url.ParseQuery(tc.query)
		q, err := ParseQuery(v)
		var got []esindex.Filter
		if err == nil {
			got, err = resolveFilters(q.Filters, types)
		}
		if tc.err != "" {
			var e *Error
			if err == nil || !strings.Contains(err.Error(), tc.err) || !asError(err, &e) || e.Status != 400 {
				t.Errorf("%q: err %v, want a 400 with %q", tc.query, err, tc.err)
			}
			continue
		}
		if err != nil || q.K != tc.k || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: k %d filters %+v err %v; want k %d %+v", tc.query, q.K, got, err, tc.k, tc.want)
		}
	}
}

func asError(err error, e **Error) bool {
	var ok bool
	*e, ok = err.(*Error)
	return ok
}
