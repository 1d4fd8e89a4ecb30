// Package neighbors computes every item's K most similar items by cosine
// similarity over a row-major float32 matrix of unit vectors, exactly or with
// an angular random-projection forest, and updates that graph incrementally.
package neighbors
