// Package mappings holds the index mapping and settings as JSON files,
// embedded into the binary.
package mappings
