package mappings

import (
	"encoding/json"
	"fmt"
	"strings"
)

// RoleSimilar is Meta.Role on a similar index.
const RoleSimilar = "similar"

// SimilarSuffix ends the alias of the similar index: the lists of the
// products behind alias "products" live behind "products-similar".
const SimilarSuffix = "-similar"

// SimilarAlias returns the alias of the similar index that belongs to the
// product alias: one list document per product, _id = product_id, source
// {"product_id", "similar_pi", "similar", "group_id", "group_size"}.
// Keeping the lists and the group's size apart from the product documents
// lets a list change or a regrouping write a small document instead of
// re-indexing the product's vector into the HNSW graph.
func SimilarAlias(alias string) string { return alias + SimilarSuffix }

// CheckAlias refuses a product alias whose name ends in "-similar": its
// concrete indices (<alias>-<ts>) would look like the similar indices of
// another alias (<base>-similar-<ts>), and pruning that alias could take
// them for its own.
func CheckAlias(alias string) error {
	if strings.HasSuffix(alias, SimilarSuffix) {
		return fmt.Errorf("index alias %q ends in %q, which essync keeps for the similar-products index of alias %q: choose another --index",
			alias, SimilarSuffix, strings.TrimSuffix(alias, SimilarSuffix))
	}
	return nil
}

// SimilarMeta returns the _meta.essync record of the similar index that
// belongs to the concrete product index products, built with opts.
func (o Options) SimilarMeta(products string) (Meta, error) {
	m, err := o.Meta()
	if err != nil {
		return Meta{}, err
	}
	return Meta{SchemaVersion: m.SchemaVersion, Role: RoleSimilar, Products: products, Model: m.Model, K: m.K, Generation: FirstGeneration}, nil
}

// RenderSimilar returns the create-index body of the similar index that
// belongs to the concrete product index products: keyword product_id and
// similar_pi ("who lists X" is a term query), the scored list stored but
// not indexed, the offer group (keyword group_id, integer group_size), no
// vector, and strict mapping so nothing else creeps in.
func RenderSimilar(opts Options, products string) ([]byte, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	meta, _ := o.SimilarMeta(products)
	body, err := fromTemplate(similarJSON, "similar.json", o, meta)
	if err != nil {
		return nil, err
	}
	out, err := json.MarshalIndent(body, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("mappings: encoding the similar index body: %w", err)
	}
	return append(out, '\n'), nil
}
