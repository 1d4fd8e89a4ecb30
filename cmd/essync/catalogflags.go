package main

import (
	"github.com/essync/essync/catalog"
	"github.com/urfave/cli/v2"
)

// catalogFlags are the catalog flags of commands that read the catalog
// without embedding it (verify); full and incremental declare the same names.
func catalogFlags() []cli.Flag {
	return []cli.Flag{
		&cli.PathFlag{Name: "catalog", Usage: "product catalog: JSON array, NDJSON, or NDJSON of arrays", Required: true},
		&cli.PathFlag{Name: "images", Usage: "folder the catalog's image names are relative to", Required: true},
		&cli.StringFlag{Name: "id-field", Value: catalog.DefaultIDField, Usage: "catalog field holding the product id"},
		&cli.StringFlag{Name: "image-field", Value: catalog.DefaultImageField, Usage: "catalog field holding the image file name"},
	}
}
