// Package catalog reads and validates the product catalog (JSON array, NDJSON
// of objects, or NDJSON of arrays) and reports every row it has to skip.
//
// Read returns the valid products in file order, each with every original
// field as raw JSON and its image resolved to an absolute path inside the
// images folder, plus one Skip per bad row with a SkipKind and a reason that
// says what to fix. Only an unreadable file, a file that is not JSON at all,
// a broken multi-line JSON array or an empty catalog (ErrEmpty) is an error:
// everything else is a Skip, so a run can publish the rest and report it.
package catalog
