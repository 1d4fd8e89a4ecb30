package esindex

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
)

// One _bulk request and what its items say: sendBulk and the outcome of
// each operation, which bulkRound (bulk.go) turns into retries or failures.

// outcome is what one bulk item came to: an HTTP-like status and reason, or
// err when the request itself failed and the item's fate is unknown.
type outcome struct {
	status int
	reason string
	err    string
}

// sendBulk posts one _bulk request, bounded by timeout, and returns one
// outcome per op, in order, or a *RefusedError when the request was refused
// as a whole.
func sendBulk(ctx context.Context, es *elasticsearch.Client, index string, batch []Op, timeout time.Duration) ([]outcome, *RefusedError) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body bytes.Buffer
	for _, op := range batch {
		id, _ := json.Marshal(op.ID)
		if op.Index != "" {
			target, _ := json.Marshal(op.Index)
			fmt.Fprintf(&body, `{%q:{"_index":%s,"_id":%s}}`+"\n", op.Action, target, id)
		} else {
			fmt.Fprintf(&body, `{%q:{"_id":%s}}`+"\n", op.Action, id)
		}
		if op.Action != "delete" {
			body.Write(op.Body)
			body.WriteByte('\n')
		}
	}
	out := make([]outcome, len(batch))
	all := func(o outcome) []outcome {
		for i := range out {
			out[i] = o
		}
		return out
	}
	res, err := es.Bulk(bytes.NewReader(body.Bytes()), es.Bulk.WithIndex(index), es.Bulk.WithContext(ctx),
		es.Bulk.WithFilterPath("errors", "items.*.status", "items.*.error"))
	if err != nil {
		return all(outcome{err: "bulk request: " + err.Error()}), nil
	}
	var blk struct {
		Items []map[string]struct {
			Status int `json:"status"`
			Error  struct {
				Type   string `json:"type"`
				Reason string `json:"reason"`
				Cause  struct {
					Reason string `json:"reason"`
				} `json:"caused_by"`
			} `json:"error"`
		} `json:"items"`
	}
	if err := decode(res, &blk); err != nil {
		var re *ResponseError
		if errors.As(err, &re) && !retryableStatus(re.Status) {
			reason := re.Reason
			if re.Type != "" {
				reason = re.Type + ": " + re.Reason
			}
			if reason == "" {
				reason = http.StatusText(re.Status)
			}
			return nil, &RefusedError{Index: index, Status: re.Status, Reason: reason}
		}
		return all(outcome{err: "bulk answer: " + err.Error()}), nil
	}
	for i := range out {
		if i >= len(blk.Items) {
			out[i] = outcome{err: "no answer for this item"}
			continue
		}
		for _, it := range blk.Items[i] {
			reason := it.Error.Type + ": " + it.Error.Reason
			if it.Error.Cause.Reason != "" {
				reason += " (" + it.Error.Cause.Reason + ")"
			}
			out[i] = outcome{status: it.Status, reason: reason}
		}
	}
	return out, nil
}

// batchBytes is about the size of batch's request body.
func batchBytes(batch []Op) int {
	n := 0
	for _, op := range batch {
		n += len(op.Body) + len(op.ID) + 32
	}
	return n
}

// congested reports whether a request's outcomes show an overloaded node:
// items refused with 429, or the request failed without an answer.
func congested(outcomes []outcome) bool {
	for _, o := range outcomes {
		if o.status == http.StatusTooManyRequests || o.err != "" {
			return true
		}
	}
	return false
}
