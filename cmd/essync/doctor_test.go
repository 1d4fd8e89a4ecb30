package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/essync/essync/esindex/estest"
)

// runDoctor runs `essync doctor args…` in-process and returns its output
// and exit code.
func runDoctor(t *testing.T, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	app := newApp()
	app.Writer, app.ErrWriter = &out, &out
	err := app.Run(append([]string{"essync", "doctor"}, args...))
	code := exitOK
	if err != nil {
		code = exitFailure
		out.WriteString(err.Error())
	}
	return out.String(), code
}

// TestDoctorChecksTheCluster runs doctor against the real node: version,
// privileges (the test node has no security API) and the alias state, before
// and after an essync-managed index sits behind the alias.
func TestDoctorChecksTheCluster(t *testing.T) {
	if _, err := embed.FindORTLibrary(""); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("ONNX Runtime is required in CI: run scripts/setup: %v", err)
		}
		t.Skipf("needs ONNX Runtime (set %s or run scripts/install-ort): %v", embed.ORTEnv, err)
	}
	es := estest.Client(t)
	alias := estest.IndexName(t, "doctor")
	card, err := embed.LoadCardOrDefault("")
	if err != nil {
		t.Fatal(err)
	}

	out, code := runDoctor(t, "--es-url", estest.URL(), "--index", alias)
	for _, want := range []string{"ok    model card", "ok    model file", "ok    onnxruntime", "ok    model session",
		"ok    elasticsearch  version 8.", "privileges     security disabled, privileges not checked",
		"info  alias          " + alias + " does not exist yet"} {
		if !strings.Contains(out, want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out)
		}
	}
	if code != exitOK {
		t.Errorf("exit %d, want 0:\n%s", code, out)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	index := alias + "-20260101000000"
	if err := esindex.CreateIndex(ctx, es, index, []byte(`{"mappings":{"properties":{"product_id":{"type":"keyword"}}}}`)); err != nil {
		t.Fatal(err)
	}
	if err := esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Model, m.Complete, m.Documents = "other-model@0123456789ab", true, 3 }); err != nil {
		t.Fatal(err)
	}
	if _, err := esindex.SwapAlias(ctx, es, alias, index); err != nil {
		t.Fatal(err)
	}
	out, _ = runDoctor(t, "--es-url", estest.URL(), "--index", alias)
	want := "warn  alias          " + alias + " -> " + index + ": model other-model@0123456789ab, complete true, 3 documents; the default model here is " + card.Fingerprint()
	if !strings.Contains(out, want) || !strings.Contains(out, "essync full") {
		t.Errorf("doctor output lacks %q and the fix:\n%s", want, out)
	}

	if err := esindex.SetMeta(ctx, es, index, func(m *esindex.Meta) { m.Model = card.Fingerprint() }); err != nil {
		t.Fatal(err)
	}
	out, code = runDoctor(t, "--es-url", estest.URL(), "--index", alias)
	if want := "ok    alias          " + alias + " -> " + index + ": model " + card.Fingerprint() + ", complete true"; !strings.Contains(out, want) || code != exitOK {
		t.Errorf("exit %d; doctor output lacks %q:\n%s", code, want, out)
	}
}

// TestDoctorUnreachableCluster: a cluster that does not answer is a failure
// with what to do.
func TestDoctorUnreachableCluster(t *testing.T) {
	out, code := runDoctor(t, "--es-url", "http://127.0.0.1:1", "--model", "/nonexistent/card.json")
	if code != exitFailure || !strings.Contains(out, "FAIL  elasticsearch") || !strings.Contains(out, "does not answer") ||
		!strings.Contains(out, "FAIL  model card") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestSecurityDisabled(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   bool
	}{
		{400, `{"error":"no handler found for uri [/_security/user/_has_privileges] and method [POST]"}`, true},
		{500, `{"error":{"type":"security_exception","reason":"Security must be explicitly enabled when using a [basic] license."}}`, true},
		{400, `{"error":{"type":"illegal_state_exception","reason":"Security is not enabled but a security rest handler is registered"}}`, true},
		{401, `{"error":{"type":"security_exception","reason":"missing authentication credentials for REST request"}}`, false},
		{403, `{"error":{"type":"security_exception","reason":"action [cluster:admin/xpack/security/user/has_privileges] is unauthorized"}}`, false},
	}
	for _, tt := range tests {
		if got := securityDisabled(tt.status, tt.body); got != tt.want {
			t.Errorf("securityDisabled(%d, %s) = %v, want %v", tt.status, tt.body, got, tt.want)
		}
	}
}

func TestMissingPrivileges(t *testing.T) {
	got := missingPrivileges(map[string]bool{"monitor": false},
		map[string]map[string]bool{"products-*": {"manage": false, "write": true}, "essync-leases": {"read": true}})
	if want := "cluster:monitor,products-*:manage"; strings.Join(got, ",") != want {
		t.Errorf("missingPrivileges = %v, want %s", got, want)
	}
}
