// Package catalog reads and validates the product catalog (JSON array, NDJSON
// of objects, or NDJSON of arrays) and reports every row it has to skip.
package catalog
