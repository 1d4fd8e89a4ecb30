package esindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
)

// Ping checks that the server answers, is Elasticsearch (it sends
// X-Elastic-Product: Elasticsearch) and runs version 8 or later. Each failure
// says what was found and what to do, without credentials.
func Ping(ctx context.Context, es *elasticsearch.Client) (version string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	if err != nil {
		return "", err
	}
	// The transport directly: the client's own product check would answer a
	// non-Elasticsearch server with a generic message before we could look.
	res, err := es.Transport.Perform(req)
	if err != nil {
		var tlsErr *TLSError
		var fpErr *FingerprintError
		if errors.As(err, &tlsErr) || errors.As(err, &fpErr) {
			return "", fmt.Errorf("cannot connect to elasticsearch securely: %w", err)
		}
		return "", fmt.Errorf("elasticsearch does not answer (%w); start it (scripts/es-node start, or docker compose up -d) or pass --es-url", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("elasticsearch GET /: %w", err)
	}
	return checkInfo(res.StatusCode, res.Header, body)
}

// checkInfo judges the answer to GET /.
func checkInfo(status int, header http.Header, body []byte) (string, error) {
	switch {
	case status == http.StatusUnauthorized:
		return "", fmt.Errorf("elasticsearch refused the credentials (401): check --es-user and --es-password, or --es-api-key")
	case status == http.StatusForbidden:
		return "", fmt.Errorf("elasticsearch answered 403 to GET /: the user lacks the monitor cluster privilege essync needs to check the version")
	case status < 200 || status >= 300:
		return "", fmt.Errorf("GET / answered %d (%.200s): is --es-url an Elasticsearch node?", status, strings.TrimSpace(string(body)))
	}
	var info struct {
		Version struct {
			Number       string `json:"number"`
			Distribution string `json:"distribution"`
		} `json:"version"`
		Tagline string `json:"tagline"`
	}
	_ = json.Unmarshal(body, &info) // judged below by what it found
	number := info.Version.Number
	switch {
	case info.Version.Distribution != "" && info.Version.Distribution != "elasticsearch":
		return "", fmt.Errorf("the server is %s %s, not Elasticsearch: essync needs Elasticsearch 8 or later", info.Version.Distribution, number)
	case header.Get("X-Elastic-Product") != "Elasticsearch" && majorVersion(number) >= 8:
		return "", fmt.Errorf("the server says it runs version %s but does not send X-Elastic-Product: Elasticsearch, so it is not Elasticsearch (or a proxy strips the header): essync needs Elasticsearch 8 or later", number)
	case number == "":
		return "", fmt.Errorf("the server's answer to GET / has no version (%.120q): --es-url must point at an Elasticsearch 8 node", strings.TrimSpace(string(body)))
	case majorVersion(number) < 8:
		return "", fmt.Errorf("the server runs Elasticsearch %s; essync needs 8.0 or later (it uses dense_vector kNN search and the 8.x API): upgrade the cluster or point --es-url at an 8.x one", number)
	}
	return number, nil
}

// majorVersion returns the leading number of a version such as "8.19.2", or
// -1 when there is none.
func majorVersion(v string) int {
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	if err != nil {
		return -1
	}
	return n
}
