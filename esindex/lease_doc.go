package esindex

// The lease document itself: reading it, breaking it (essync unlock) and
// creating the index that holds it. The held lease's life is in lease.go.

import (
	"context"
	"fmt"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"
)

// ReadLease returns alias's lease document, if any.
func ReadLease(ctx context.Context, es *elasticsearch.Client, alias string) (LeaseInfo, bool, error) {
	info, _, _, found, err := readLease(ctx, es, alias)
	return info, found, err
}

func readLease(ctx context.Context, es *elasticsearch.Client, alias string) (info LeaseInfo, seqNo, term int, found bool, err error) {
	res, err := es.Get(LeaseIndex, alias, es.Get.WithContext(ctx))
	if err != nil {
		return info, 0, 0, false, fmt.Errorf("read the lease on %s: %w", alias, err)
	}
	var doc struct {
		Found       bool      `json:"found"`
		SeqNo       int       `json:"_seq_no"`
		PrimaryTerm int       `json:"_primary_term"`
		Source      LeaseInfo `json:"_source"`
	}
	if err := decode(res, &doc); err != nil {
		if isStatus(err, 404) {
			return info, 0, 0, false, nil
		}
		return info, 0, 0, false, fmt.Errorf("read the lease on %s: %w", alias, err)
	}
	return doc.Source, doc.SeqNo, doc.PrimaryTerm, doc.Found, nil
}

// BreakLease deletes alias's lease whoever holds it (essync unlock) and
// returns what it held; found is false when there was none.
func BreakLease(ctx context.Context, es *elasticsearch.Client, alias string) (LeaseInfo, bool, error) {
	return BreakLeaseIf(ctx, es, alias, nil)
}

// BreakLeaseIf is BreakLease that first shows the holder to allow (nil:
// allow all); when allow returns an error, nothing is deleted and that error
// is returned. The delete is guarded by the version read, so only the lease
// allow approved can go, not one a new run took meanwhile.
func BreakLeaseIf(ctx context.Context, es *elasticsearch.Client, alias string, allow func(LeaseInfo) error) (LeaseInfo, bool, error) {
	info, seqNo, term, found, err := readLease(ctx, es, alias)
	if err != nil || !found {
		return info, found, err
	}
	if allow != nil {
		if err := allow(info); err != nil {
			return info, true, err
		}
	}
	res, err := es.Delete(LeaseIndex, alias, es.Delete.WithIfSeqNo(seqNo), es.Delete.WithIfPrimaryTerm(term),
		es.Delete.WithContext(ctx))
	if err != nil {
		return info, true, fmt.Errorf("break the lease on %s: %w", alias, err)
	}
	if err := decode(res, nil); err != nil && !isStatus(err, 404) {
		return info, true, fmt.Errorf("break the lease on %s (it changed meanwhile; look again): %w", alias, err)
	}
	return info, true, nil
}

// ensureLeaseIndex creates the lease index (one shard, a replica when the
// cluster has room) unless it exists.
func ensureLeaseIndex(ctx context.Context, es *elasticsearch.Client) error {
	body := `{"settings":{"index":{"number_of_shards":1,"auto_expand_replicas":"0-1"}},"mappings":{"dynamic":false,"properties":{"alias":{"type":"keyword"},"expires_at":{"type":"date"}}}}`
	res, err := es.Indices.Create(LeaseIndex, es.Indices.Create.WithBody(strings.NewReader(body)), es.Indices.Create.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("create %s: %w", LeaseIndex, err)
	}
	if err := decode(res, nil); err != nil && !isAlreadyExists(err) {
		return fmt.Errorf("create %s: %w", LeaseIndex, err)
	}
	return nil
}
