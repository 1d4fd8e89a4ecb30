package main

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
	"gopkg.in/yaml.v3"
)

const workflowPath = "../../docs/ci/verify-workflow.yml"

// workflow is the part of a GitHub Actions workflow the test reads.
type workflow struct {
	Jobs map[string]struct {
		Services map[string]struct {
			Image string `yaml:"image"`
		} `yaml:"services"`
		Steps []struct {
			Run string `yaml:"run"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

// TestCIWorkflowRecipe keeps docs/ci/verify-workflow.yml honest: it runs
// Elastic's image at the version the project pins, and every essync command
// line in it parses with the current flags and runs full, then verify.
func TestCIWorkflowRecipe(t *testing.T) {
	data, err := os.ReadFile(workflowPath)
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(data, &wf); err != nil {
		t.Fatalf("%s is not valid YAML: %v", workflowPath, err)
	}
	pinned := pinnedESVersion(t)
	var images []string
	var commands [][]string
	for _, job := range wf.Jobs {
		for _, svc := range job.Services {
			images = append(images, svc.Image)
		}
		for _, step := range job.Steps {
			commands = append(commands, essyncCommands(step.Run)...)
		}
	}
	if len(images) != 1 || images[0] != "elasticsearch:"+pinned {
		t.Errorf("service images %v, want exactly elasticsearch:%s (the version docker-compose.yml and testdata/esnode/pom.xml pin)", images, pinned)
	}
	var ran []string
	for _, args := range commands {
		name, err := dryRun(args)
		if err != nil {
			t.Errorf("%s: %q does not parse with the current flags: %v", workflowPath, strings.Join(args, " "), err)
		}
		ran = append(ran, name)
	}
	if len(ran) < 2 || ran[0] != "full" || !strings.Contains(strings.Join(ran, " "), "verify") {
		t.Errorf("essync commands in the workflow: %v, want full, then verify", ran)
	}
}

// TestDryRunRejectsWhatTheCLIRejects proves the check above can fail.
func TestDryRunRejectsWhatTheCLIRejects(t *testing.T) {
	for _, line := range []string{
		"bin/essync verify --catalog c.json --images img --no-such-flag",
		"bin/essync verify --images img",
		"bin/essync no-such-command",
		"bin/essync full --catalog c.json --images img --k notanumber",
	} {
		cmds := essyncCommands(line)
		if len(cmds) != 1 {
			t.Fatalf("%q: found %d commands", line, len(cmds))
		}
		if name, err := dryRun(cmds[0]); err == nil {
			t.Errorf("%q parsed (as %q)", line, name)
		}
	}
	if name, err := dryRun(essyncCommands("bin/essync verify --catalog c.json --images img --hash --json > out.json || true")[0]); err != nil || name != "verify" {
		t.Errorf("a good line: %q, %v", name, err)
	}
}

// pinnedESVersion reads the Elasticsearch version from the test node's POM
// and checks docker-compose.yml agrees.
func pinnedESVersion(t *testing.T) string {
	t.Helper()
	pom, err := os.ReadFile(filepath.Join("..", "..", "testdata", "esnode", "pom.xml"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`<elasticsearch\.version>([^<]+)</elasticsearch\.version>`).FindSubmatch(pom)
	if m == nil {
		t.Fatal("testdata/esnode/pom.xml has no <elasticsearch.version>")
	}
	version := string(m[1])
	compose, err := os.ReadFile(filepath.Join("..", "..", "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(compose), "image: elasticsearch:"+version) {
		t.Errorf("docker-compose.yml does not run elasticsearch:%s", version)
	}
	return version
}

// essyncCommands returns the argument lists of the essync invocations in a
// shell script: backslash-newlines joined, words split (single and double
// quotes honoured), cut at the first redirection or shell operator.
func essyncCommands(script string) [][]string {
	script = strings.ReplaceAll(script, "\\\n", " ")
	var out [][]string
	for _, line := range strings.Split(script, "\n") {
		words := shellWords(line)
		if len(words) == 0 || filepath.Base(words[0]) != "essync" {
			continue
		}
		args := []string{"essync"}
		for _, w := range words[1:] {
			if w == ">" || w == ">>" || w == "|" || w == "||" || w == "&&" || w == ";" || strings.HasPrefix(w, ">") || strings.HasPrefix(w, "2>") {
				break
			}
			args = append(args, w)
		}
		out = append(out, args)
	}
	return out
}

func shellWords(line string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range line {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// dryRun parses args with the real command tree, every action replaced by
// one that only records which command it was: unknown flags, missing
// required flags, bad values and unknown commands fail as they would.
func dryRun(args []string) (string, error) {
	app := newApp()
	app.Writer, app.ErrWriter = discard{}, discard{}
	var ran string
	var stub func(cmds []*cli.Command)
	stub = func(cmds []*cli.Command) {
		for _, c := range cmds {
			name := c.Name
			c.Action = func(*cli.Context) error { ran = name; return nil }
			stub(c.Subcommands)
		}
	}
	stub(app.Commands)
	app.Action = func(c *cli.Context) error {
		return errors.New("no command given, or an unknown one: " + strings.Join(c.Args().Slice(), " "))
	}
	if err := app.Run(args); err != nil {
		return ran, err
	}
	if ran == "" {
		return "", errors.New("no command ran")
	}
	return ran, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
