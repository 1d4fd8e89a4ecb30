package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/essync/essync/esindex/estest"
)

// childArgsEnv carries the arguments of an essync run into a child process
// of this test binary, which then runs them as the real command would.
const childArgsEnv = "ESSYNC_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if raw := os.Getenv(childArgsEnv); raw != "" {
		var args []string
		if err := json.Unmarshal([]byte(raw), &args); err != nil {
			os.Stderr.WriteString("bad " + childArgsEnv + ": " + err.Error() + "\n")
			os.Exit(99)
		}
		os.Exit(run(args))
	}
	os.Exit(m.Run())
}

// runChild runs essync with args in a separate process (this test binary in
// child mode) in dir, with extra environment variables, and returns its exit
// code and everything it wrote to stdout and stderr.
func runChild(t *testing.T, dir string, env []string, args ...string) (int, []byte) {
	t.Helper()
	raw, err := json.Marshal(append([]string{"essync"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), childArgsEnv+"="+string(raw)), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run essync: %v", err)
	}
	return code, out.Bytes()
}

// TestSecretsNeverWritten plants a password in --es-url, another in
// --es-password and an API key (by flag and by environment), runs essync
// against the real node and against closed or malformed addresses, and
// greps everything the process wrote (stdout, stderr with debug logs, the
// report and every other file it left) for the secrets: there must be none.
func TestSecretsNeverWritten(t *testing.T) {
	needORTLib(t)
	estest.Client(t)
	const (
		urlSecret = "UrlPw-7d1e"
		pwSecret  = "FlagPw-93c2"
		keySecret = "ApiKeySecret-5b8a"
	)
	apiKey := base64.StdEncoding.EncodeToString([]byte("key-id:" + keySecret))
	secrets := []string{urlSecret, pwSecret, keySecret, apiKey,
		base64.StdEncoding.EncodeToString([]byte("elastic:" + urlSecret)),
		base64.StdEncoding.EncodeToString([]byte("elastic:" + pwSecret))}

	node := estest.URL()
	withPassword := func(raw string) string {
		scheme, rest, _ := strings.Cut(raw, "://")
		if _, host, ok := strings.Cut(rest, "@"); ok {
			rest = host
		}
		return scheme + "://elastic:" + urlSecret + "@" + rest
	}
	closed := closedPort(t)
	alias := estest.IndexName(t, "secrets")
	e2e := filepath.Join("..", "..", "testdata", "e2e")
	catalog, _ := filepath.Abs(filepath.Join(e2e, "catalog.json"))
	images, _ := filepath.Abs(filepath.Join(e2e, "images"))
	model, _ := filepath.Abs(filepath.Join("..", "..", "testdata", "models", "tiny-nchw-pad.json"))
	full := []string{"--log-level", "debug", "full", "--catalog", catalog, "--images", images, "--model", model,
		"--exact", "--index", alias, "--replicas", "0", "--report", "report.json", "--neighbors-json", "nn.json"}
	const anyFailure = -1
	with := func(base []string, more ...string) []string { return append(append([]string(nil), base...), more...) }

	tests := []struct {
		name     string
		args     []string
		env      []string
		wantCode int
	}{
		{"reachable node, password in the URL and as a flag", with(full, "--es-url", withPassword(node), "--es-user", "elastic", "--es-password", pwSecret), nil, exitOK},
		{"reachable node, API key flag", with(full, "--es-url", withPassword(node), "--es-api-key", apiKey), nil, exitOK},
		{"connection refused", with(full, "--es-url", "http://elastic:"+urlSecret+"@"+closed, "--es-password", pwSecret, "--es-api-key", apiKey), nil, exitFailure},
		{"connection refused, secrets from the environment", with(full, "--es-url", "http://elastic:"+urlSecret+"@"+closed),
			[]string{"ELASTICSEARCH_PASSWORD=" + pwSecret, "ELASTICSEARCH_USERNAME=elastic", "ELASTICSEARCH_API_KEY=" + apiKey}, exitFailure},
		{"URL that does not parse", with(full, "--es-url", "http://elastic:"+urlSecret+"@127.0.0.1:92x0", "--es-password", pwSecret), nil, exitFailure},
		{"rollback, connection refused", []string{"rollback", "--index", alias, "--es-url", "http://elastic:" + urlSecret + "@" + closed, "--es-api-key", apiKey}, nil, exitFailure},
		{"missing flags print the help", []string{"full", "--es-url", withPassword(node)},
			[]string{"ELASTICSEARCH_PASSWORD=" + pwSecret, "ELASTICSEARCH_API_KEY=" + apiKey}, anyFailure},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			code, out := runChild(t, dir, tc.env, tc.args...)
			if code != tc.wantCode && !(tc.wantCode == anyFailure && code != exitOK) {
				t.Errorf("exit %d, want %d; output:\n%s", code, tc.wantCode, out)
			}
			written := map[string][]byte{"stdout+stderr": out}
			filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() {
					data, err := os.ReadFile(path)
					if err != nil {
						t.Errorf("read %s: %v", path, err)
					}
					written[path] = data
				}
				return nil
			})
			if tc.args[0] != "rollback" && tc.wantCode != anyFailure {
				if _, ok := written[filepath.Join(dir, "report.json")]; !ok {
					t.Errorf("no report written (files: %d)", len(written)-1)
				}
			}
			if tc.wantCode == exitOK && !bytes.Contains(out, []byte("auth=")) {
				t.Errorf("the log does not show the connection (config=…), so the test proves little:\n%s", out)
			}
			for name, data := range written {
				for _, secret := range secrets {
					if i := bytes.Index(data, []byte(secret)); i >= 0 {
						t.Errorf("%s shows the secret %q: …%s…", name, secret, data[max(0, i-80):min(len(data), i+len(secret)+20)])
					}
				}
			}
		})
	}
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}
