package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

func TestSyncCommandsRefuseFlagsThatDoNotApply(t *testing.T) {
	base := []string{"--catalog", "../../testdata/e2e/catalog.json", "--images", "../../testdata/e2e/images"}
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"incremental --keep", []string{"incremental", "--keep", "3"}},
		{"incremental --shards", []string{"incremental", "--shards", "2"}},
		{"incremental --replicas", []string{"incremental", "--replicas", "0"}},
		{"incremental --index-options", []string{"incremental", "--index-options", "flat"}},
		{"incremental --keep-failed", []string{"incremental", "--keep-failed"}},
		{"incremental --neighbors-json", []string{"incremental", "--neighbors-json", "x.json"}},
		{"incremental --out", []string{"incremental", "--out", "dir"}},
		{"bad --max-refused", []string{"full", "--max-refused", "lots"}},
		{"bad --rename", []string{"full", "--rename", "model"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"essync"}, tc.args...)
			if code := runArgs(append(args, base...)...); code != exitUsage {
				t.Errorf("exit %d, want %d (usage error)", code, exitUsage)
			}
		})
	}
}

func TestUnlockBreaksTheLease(t *testing.T) {
	es := estest.Client(t)
	ctx := context.Background()
	alias := estest.IndexName(t, "unlock")
	l, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{Command: "essync full"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	app := newApp()
	var out bytes.Buffer
	app.Writer = &out
	if err := app.Run([]string{"essync", "unlock", "--force", "--index", alias, "--es-url", estest.URL()}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "broke the lease on "+alias) || !strings.Contains(out.String(), "essync full") {
		t.Errorf("unlock said %q", out.String())
	}
	if _, held, err := esindex.ReadLease(ctx, es, alias); err != nil || held {
		t.Errorf("lease still held after unlock (err %v)", err)
	}
	if _, err := esindex.AcquireLease(ctx, es, alias, esindex.LeaseOptions{}); err != nil {
		t.Errorf("a new run cannot take the broken lease: %v", err)
	}
}
