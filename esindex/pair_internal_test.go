package esindex

import "testing"

// A product alias's listing never takes its similar indices (or another
// alias's indices) for its own, and each product index names its pair.
func TestIndexPairNames(t *testing.T) {
	tests := []struct {
		alias, index string
		managed      bool
		similar      string // SimilarIndexOf and SimilarIndexFor
	}{
		{"products", "products-20261128-100000.000", true, "products-similar-20261128-100000.000"},
		{"products", "products-similar-20261128-100000.000", false, ""},
		{"products-similar", "products-similar-20261128-100000.000", true, "products-similar-similar-20261128-100000.000"},
		{"products", "products-eu-20261128-100000.000", false, ""},
		{"products", "products-1", false, ""},
		{"products", "shop-20261128-100000.000", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.alias+"/"+tc.index, func(t *testing.T) {
			if got := isManaged(tc.alias, tc.index); got != tc.managed {
				t.Errorf("isManaged = %v, want %v", got, tc.managed)
			}
			got, ok := SimilarIndexOf(tc.alias, tc.index)
			if got != tc.similar || ok != (tc.similar != "") {
				t.Errorf("SimilarIndexOf = %q %v, want %q", got, ok, tc.similar)
			}
			if tc.managed {
				if got, ok := SimilarIndexFor(tc.index); got != tc.similar || !ok {
					t.Errorf("SimilarIndexFor = %q %v, want %q", got, ok, tc.similar)
				}
			}
		})
	}
	if _, ok := SimilarIndexFor("products-1"); ok {
		t.Error("SimilarIndexFor took a name without essync's timestamp")
	}
}
