// Package serve is essync's search service: a query photo is embedded with
// the same model as the index (through a bounded queue that batches queries
// into one model call) and answered with the index's kNN; a product's stored
// similar list is answered with each product's catalog fields. It serves a
// JSON API, /healthz (is the alias there, with this model's vectors?),
// Prometheus /metrics, a page at / to look at the results, and the catalog's
// images from a folder that no request can leave.
package serve
