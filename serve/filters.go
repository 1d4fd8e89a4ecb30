package serve

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/essync/essync/esindex"
)

// essyncFields are the top-level fields essync writes; every other top-level
// field is the catalog's, and only those can be filtered on.
var essyncFields = []string{"product_id", "image_name", "image_vector", "similar_pi", "similar", "group_id", "group_size", "essync",
	"model", "synced_at", "image_sha256"}

// numericTypes are the Elasticsearch field types min./max. work on.
var numericTypes = []string{"long", "integer", "short", "byte", "double", "float", "half_float", "scaled_float", "unsigned_long"}

// ParseQuery reads k and the filters of a search request's query string:
// k=10, filter.<field>=v (repeat for any of several values),
// min.<field>=n, max.<field>=n. Unknown parameters are refused, so a typo
// does not silently widen a search.
func ParseQuery(v url.Values) (Query, error) {
	var q Query
	at := map[string]int{} // field → index in q.Filters
	get := func(field string) *FieldFilter {
		i, ok := at[field]
		if !ok {
			i = len(q.Filters)
			at[field] = i
			q.Filters = append(q.Filters, FieldFilter{Field: field})
		}
		return &q.Filters[i]
	}
	keys := make([]string, 0, len(v))
	for key := range v {
		keys = append(keys, key)
	}
	slices.Sort(keys) // stable filter order, stable errors
	for _, key := range keys {
		vals := v[key]
		kind, field, _ := strings.Cut(key, ".")
		switch {
		case key == "k":
			k, err := strconv.Atoi(vals[0])
			if err != nil || k < 1 {
				return Query{}, refuse(http.StatusBadRequest, "k=%q: want a whole number of at least 1", vals[0])
			}
			q.K = k
		case field == "":
			return Query{}, refuse(http.StatusBadRequest, "unknown parameter %q: use k, filter.<field>, min.<field> or max.<field>", key)
		case kind == "filter":
			f := get(field)
			f.Values = append(f.Values, vals...)
		case kind == "min" || kind == "max":
			n, err := strconv.ParseFloat(vals[0], 64)
			if err != nil {
				return Query{}, refuse(http.StatusBadRequest, "%s=%q: want a number", key, vals[0])
			}
			f := get(field)
			if kind == "min" {
				f.Min = &n
			} else {
				f.Max = &n
			}
		default:
			return Query{}, refuse(http.StatusBadRequest, "unknown parameter %q: use k, filter.<field>, min.<field> or max.<field>", key)
		}
	}
	return q, nil
}

// resolveFilters checks filters against the index's field types and names
// the field to query: a text field's keyword sub-field for exact matches,
// the field itself otherwise.
func resolveFilters(filters []FieldFilter, types map[string]string) ([]esindex.Filter, error) {
	out := make([]esindex.Filter, 0, len(filters))
	for _, f := range filters {
		top, _, _ := strings.Cut(f.Field, ".")
		if slices.Contains(essyncFields, top) {
			return nil, refuse(http.StatusBadRequest, "%q is essync's field, not a catalog field: filters work on catalog fields", f.Field)
		}
		typ := types[f.Field]
		if typ == "" {
			return nil, refuse(http.StatusBadRequest, "unknown catalog field %q", f.Field)
		}
		numeric := slices.Contains(numericTypes, typ)
		if (f.Min != nil || f.Max != nil) && !numeric {
			return nil, refuse(http.StatusBadRequest, "min./max.%s: %q is a %s field, not a number", f.Field, f.Field, typ)
		}
		field := f.Field
		switch {
		case numeric:
			for _, v := range f.Values {
				if _, err := strconv.ParseFloat(v, 64); err != nil {
					return nil, refuse(http.StatusBadRequest, "filter.%s=%q: %s is a number field", f.Field, v, f.Field)
				}
			}
		case typ == "text":
			if types[f.Field+".keyword"] != "keyword" {
				return nil, refuse(http.StatusBadRequest, "filter.%s: a text field without a keyword sub-field cannot be matched exactly", f.Field)
			}
			field = f.Field + ".keyword"
		case typ == "keyword" || typ == "boolean" || typ == "date" || typ == "ip":
		default:
			return nil, refuse(http.StatusBadRequest, "filter.%s: cannot filter on a %s field", f.Field, typ)
		}
		out = append(out, esindex.Filter{Field: field, Values: f.Values, Min: f.Min, Max: f.Max})
	}
	return out, nil
}
