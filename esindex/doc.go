// Package esindex owns the Elasticsearch side: index lifecycle, bulk loading
// with retries, the atomic alias swap, and reading the live state back.
package esindex
