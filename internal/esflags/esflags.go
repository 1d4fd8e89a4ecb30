// Package esflags holds the Elasticsearch connection flags that essync and
// essync-bench share, so both commands spell them and read them alike.
package esflags

import (
	"strings"

	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

// Flags are the Elasticsearch connection flags shared by every command that
// talks to the cluster. Secrets come best from the environment.
func Flags() []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "es-url", Usage: "Elasticsearch URL (repeat or comma-separate for several nodes)", EnvVars: []string{"ELASTICSEARCH_URL", "ESSYNC_ES_URL"}},
		&cli.StringFlag{Name: "es-user", Usage: "basic-auth user", EnvVars: []string{"ELASTICSEARCH_USERNAME"}},
		&cli.StringFlag{Name: "es-password", Usage: "basic-auth password (prefer the env var)", EnvVars: []string{"ELASTICSEARCH_PASSWORD"}},
		&cli.StringFlag{Name: "es-api-key", Usage: "API key, base64 as Kibana shows it (prefer the env var)", EnvVars: []string{"ELASTICSEARCH_API_KEY"}},
		&cli.PathFlag{Name: "es-ca-cert", Usage: "PEM file of the cluster's CA certificate", EnvVars: []string{"ELASTICSEARCH_CA_CERT"}},
		&cli.StringFlag{Name: "es-fingerprint", Usage: "SHA-256 fingerprint of the cluster's certificate or its CA (hex, colons allowed)", EnvVars: []string{"ELASTICSEARCH_CERT_FINGERPRINT"}},
		&cli.DurationFlag{Name: "es-timeout", Value: esindex.DefaultRequestTimeout, Usage: "give up on a request (other than _bulk) that has no complete answer after this long; it is retried", EnvVars: []string{"ESSYNC_ES_TIMEOUT"}},
		&cli.DurationFlag{Name: "bulk-timeout", Value: esindex.DefaultBulkTimeout, Usage: "give up on a _bulk request that has no complete answer after this long; it is retried", EnvVars: []string{"ESSYNC_BULK_TIMEOUT"}},
	}
}

// Config returns the connection config, or nil when no URL was given
// (commands that can work offline then write files instead).
func Config(c *cli.Context) *esindex.Config {
	var urls []string
	for _, u := range c.StringSlice("es-url") {
		for _, part := range strings.Split(u, ",") {
			if part = strings.TrimSpace(part); part != "" {
				urls = append(urls, part)
			}
		}
	}
	if len(urls) == 0 {
		return nil
	}
	return &esindex.Config{
		URLs:        urls,
		Username:    c.String("es-user"),
		Password:    c.String("es-password"),
		APIKey:      c.String("es-api-key"),
		CACertPath:  c.Path("es-ca-cert"),
		Fingerprint: c.String("es-fingerprint"),
		// Zero or negative durations fall back to the defaults in esindex.
		RequestTimeout: c.Duration("es-timeout"),
		BulkTimeout:    c.Duration("bulk-timeout"),
	}
}
