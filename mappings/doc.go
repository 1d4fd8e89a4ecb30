// Package mappings holds the index mapping and settings as JSON files,
// embedded into the binary.
//
// products.json is the create-index body of the product index; Render fills
// in the vector dims, similarity and index_options type, shard and replica
// counts, and the _meta.essync record (model fingerprint, dims, schema
// version) that ReadMeta and Meta.Compatible later check before an
// incremental run touches an existing index.
package mappings
