package main

import (
	"os"
	"strings"
	"testing"
)

// TestUsageErrorsExitTwo runs every subcommand with an unknown flag, without
// a required flag and with a bad value: each must exit 2 (usage error) with
// a message naming the flag, and do no work.
func TestUsageErrorsExitTwo(t *testing.T) {
	// Without these the commands that need Elasticsearch would find it in
	// the environment the tests run in.
	for _, env := range []string{"ESSYNC_ES_URL", "ELASTICSEARCH_URL"} {
		t.Setenv(env, "")
		os.Unsetenv(env)
	}
	sync := []string{"--catalog", "catalog.json", "--images", "images"}
	with := func(cmd string, base []string, more ...string) []string {
		return append(append([]string{cmd}, base...), more...)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string // in the message
	}{
		{"full unknown flag", with("full", sync, "--no-such-flag"), "no-such-flag"},
		{"full missing --catalog", []string{"full", "--images", "images"}, "catalog"},
		{"full bad --k", with("full", sync, "--k", "twenty"), "-k"},
		{"full --k 0", with("full", sync, "--k", "0"), "--k"},
		{"incremental unknown flag", with("incremental", sync, "--no-such-flag"), "no-such-flag"},
		{"incremental missing --images", []string{"incremental", "--catalog", "catalog.json"}, "images"},
		{"incremental bad --give-up", with("incremental", sync, "--give-up", "soon"), "give-up"},
		{"incremental --recall 2", with("incremental", sync, "--recall", "2"), "--recall"},
		{"embed unknown flag", []string{"embed", "--images", ".", "--out", "o", "--no-such-flag"}, "no-such-flag"},
		{"embed missing --out", []string{"embed", "--images", "."}, "--out"},
		{"embed bad --max-skipped", []string{"embed", "--images", ".", "--out", "o", "--max-skipped", "lots"}, "max-skipped"},
		{"embed bad --shard", []string{"embed", "--images", ".", "--out", t.TempDir(), "--shard", "3/2"}, "--shard"},
		{"neighbors unknown flag", []string{"neighbors", "--vectors", "v", "--out", "o", "--no-such-flag"}, "no-such-flag"},
		{"neighbors missing --vectors", []string{"neighbors", "--out", "o"}, "--vectors"},
		{"neighbors --k 0", []string{"neighbors", "--vectors", "v", "--out", "o", "--k", "0"}, "--k"},
		{"groups unknown flag", []string{"groups", "--vectors", "v", "--no-such-flag"}, "no-such-flag"},
		{"groups missing --vectors or --es-url", []string{"groups"}, "--vectors"},
		{"groups bad --format", []string{"groups", "--vectors", "v", "--format", "xml"}, "--format"},
		{"rollback unknown flag", []string{"rollback", "--no-such-flag"}, "no-such-flag"},
		{"rollback missing --es-url", []string{"rollback"}, "--es-url"},
		{"rollback bad --wait-lock", []string{"rollback", "--wait-lock", "forever"}, "wait-lock"},
		{"rollback negative --wait-lock", []string{"rollback", "--es-url", "http://127.0.0.1:9", "--wait-lock", "-1s"}, "--wait-lock"},
		{"unlock unknown flag", []string{"unlock", "--no-such-flag"}, "no-such-flag"},
		{"unlock missing --es-url", []string{"unlock"}, "--es-url"},
		{"unlock bad --force", []string{"unlock", "--force=maybe"}, "force"},
		{"serve unknown flag", []string{"serve", "--no-such-flag"}, "no-such-flag"},
		{"serve bad --max-body", []string{"serve", "--max-body", "big"}, "max-body"},
		{"serve bad --listen", []string{"serve", "--listen", "127.0.0.1:99999"}, "--listen"},
		{"serve --num-candidates too many", []string{"serve", "--listen", "127.0.0.1:0", "--num-candidates", "20000"}, "--num-candidates"},
		{"search --num-candidates negative", []string{"search", "--image", "../../testdata/images/photos/chelsea.jpg", "--num-candidates", "-1"}, "--num-candidates"},
		{"search unknown flag", []string{"search", "--image", "q.jpg", "--no-such-flag"}, "no-such-flag"},
		{"search missing --image", []string{"search"}, "image"},
		{"search bad --k", []string{"search", "--image", "q.jpg", "--k", "ten"}, "-k"},
		{"verify unknown flag", with("verify", sync, "--no-such-flag"), "no-such-flag"},
		{"verify missing --catalog", []string{"verify", "--images", "images"}, "catalog"},
		{"verify missing --es-url", with("verify", sync), "--es-url"},
		{"verify bad --sample", with("verify", sync, "--sample", "many"), "sample"},
		{"doctor unknown flag", []string{"doctor", "--no-such-flag"}, "no-such-flag"},
		{"doctor bad --es-timeout", []string{"doctor", "--es-timeout", "soon"}, "es-timeout"},
		{"version unknown flag", []string{"version", "--no-such-flag"}, "no-such-flag"},
		{"version bad --log-level", []string{"--log-level", "loud", "version"}, "log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runCapturingStderr(t, append([]string{"essync"}, tc.args...)...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d (usage error); stderr: %s", code, exitUsage, stderr)
			}
			if !strings.Contains(stderr, tc.want) {
				t.Errorf("the message should name %q: %s", tc.want, stderr)
			}
		})
	}
}
