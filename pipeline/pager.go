package pipeline

// With --vectors, the run's matrix is the read-only mapping of vectors.npy
// (5 KB a product at 1280 dims), and every page of it a stage touches counts
// in the process's resident set until it is dropped, although it is page
// cache the kernel can reclaim and re-read at any time. The neighbour search
// drops the mapping's pages after its passes and while its own memory is at
// its largest (neighbors.Options.DropPages); the documents, read in row
// order, drop them behind the encoder (dropEvery). The groups and the
// neighbour lists' re-scoring read rows at random, and a random read maps
// the page cache's whole folio around the row (about 1 MiB), so they hold
// most of the file while they run; they run when the search's working
// memory is already freed, and the file's pages are dropped after each.

// dropEvery is how many documents are encoded between two drops of the
// mapping's pages (80 MiB of rows at 1280 dims).
const dropEvery = 16384
