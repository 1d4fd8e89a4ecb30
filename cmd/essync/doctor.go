package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/essync/essync/embed"
	"github.com/essync/essync/esindex"
	"github.com/urfave/cli/v2"
)

// leaseIndex is where essync keeps its one-writer-per-alias leases.
const leaseIndex = "essync-leases"

func doctorCommand() *cli.Command {
	flags := pickFlags(modelFlags(), "model", "ort-lib")
	flags = append(flags, &cli.StringFlag{Name: "index", Value: "products", Usage: "alias whose state to show (with --es-url)"})
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that essync can run here: model, ONNX Runtime, JPEG decoder and, with --es-url, the cluster",
		Description: `Checks the default model (or --model): card found, model file checksum, and that
ONNX Runtime opens it; the ONNX Runtime library: found, loads, version; the
optional libjpeg-turbo. With --es-url also the cluster: Elasticsearch 8 or
later, the privileges essync needs, and where the alias points (its model and
whether the index is complete). Each problem is printed with what to do.
Exit code 0 when nothing is missing, 1 otherwise.`,
		Flags: append(flags, esFlags()...),
		Action: func(c *cli.Context) error {
			d := &doctor{w: c.App.Writer}
			d.local(c.Path("model"), c.Path("ort-lib"))
			if cfg := esConfig(c); cfg != nil {
				ctx, cancel := context.WithTimeout(c.Context, 30*time.Second)
				defer cancel()
				cfg.MaxRetries = 1
				d.cluster(ctx, *cfg, c.String("index"))
			} else {
				d.report("info", "elasticsearch", "not checked (pass --es-url to check the cluster)", "")
			}
			if d.failed > 0 {
				return cli.Exit(fmt.Sprintf("doctor: %d problem(s) found; fix them as shown above", d.failed), exitFailure)
			}
			fmt.Fprintln(d.w, "doctor: essync is ready to run here")
			return nil
		},
	}
}

// doctor prints one line per check and counts failures.
type doctor struct {
	w           io.Writer
	failed      int
	fingerprint string // the default model's, to compare with the alias's
}

// report prints a check's outcome: status is ok, FAIL, warn or info; fix,
// when given, is printed below it.
func (d *doctor) report(status, what, detail, fix string) {
	if status == "FAIL" {
		d.failed++
	}
	fmt.Fprintf(d.w, "%-5s %-14s %s\n", status, what, detail)
	if fix != "" {
		fmt.Fprintf(d.w, "%-5s %-14s fix: %s\n", "", "", fix)
	}
}

// local checks the model, ONNX Runtime and the JPEG decoder.
func (d *doctor) local(modelCard, ortLib string) {
	cardPath, source := modelCard, embed.SourceFlag
	if cardPath == "" {
		var err error
		if cardPath, source, err = embed.LocateDefaultCard(); err != nil {
			d.report("FAIL", "model card", err.Error(), "")
			cardPath = ""
		}
	}
	var card *embed.Card
	if cardPath != "" {
		var err error
		if card, err = embed.LoadCard(cardPath); err != nil {
			d.report("FAIL", "model card", err.Error(), "restore the model folder from the release archive or the checkout, or pass --model")
		} else {
			d.report("ok", "model card", fmt.Sprintf("%s (%s)", card.Path(), source), "")
			d.fingerprint = card.Fingerprint()
			if sum, err := embed.FileSHA256(card.ModelPath()); err != nil {
				d.report("FAIL", "model file", err.Error(), "")
				card = nil
			} else if sum != card.SHA256 {
				d.report("FAIL", "model file", fmt.Sprintf("%s has sha256 %s, its card says %s", card.ModelPath(), sum, card.SHA256),
					"the file is damaged or not the card's: restore it from the release archive or the checkout")
				card = nil
			} else {
				d.report("ok", "model file", fmt.Sprintf("%s: sha256 matches the card, fingerprint %s", card.ModelPath(), card.Fingerprint()), "")
			}
		}
	}

	lib, source, err := embed.LocateORTLibrary(ortLib)
	ortOK := false
	if err != nil {
		d.report("FAIL", "onnxruntime", err.Error(), "")
	} else if v, _, err := embed.ORTVersion(lib); err != nil {
		d.report("FAIL", "onnxruntime", fmt.Sprintf("%s (%s) does not load: %v", lib, source, err), "")
	} else {
		ortOK = true
		d.report("ok", "onnxruntime", fmt.Sprintf("%s loaded from %s (%s)", v, lib, source), "")
	}
	if card != nil && ortOK {
		e, err := embed.New(card, embed.Options{ORTLib: lib, BatchSize: 1, IntraOpThreads: 1, DecodeWorkers: 1})
		if err != nil {
			d.report("FAIL", "model session", err.Error(), "")
		} else {
			e.Close()
			d.report("ok", "model session", fmt.Sprintf("ONNX Runtime opens the model; input %q and output %q (%d-d) match the card",
				card.InputName, card.OutputName, card.Dims), "")
		}
	}

	if tj := embed.TurboJPEGLibrary(); tj != "" {
		d.report("ok", "jpeg decoder", "libjpeg-turbo "+tj, "")
	} else {
		d.report("warn", "jpeg decoder", "libjpeg-turbo not found: JPEGs are decoded by Go's slower image/jpeg (optional)",
			"use the release archive (lib/libturbojpeg.so.0), run scripts/install-turbojpeg in a checkout, "+
				"or install the system package libturbojpeg0")
	}
}

// cluster checks the Elasticsearch version, the user's privileges and the
// alias state.
func (d *doctor) cluster(ctx context.Context, cfg esindex.Config, alias string) {
	es, err := esindex.NewClient(cfg)
	if err != nil {
		d.report("FAIL", "elasticsearch", err.Error(), "check --es-url and the TLS/auth flags")
		return
	}
	v, err := esindex.Ping(ctx, es)
	if err != nil {
		d.report("FAIL", "elasticsearch", fmt.Sprintf("%s: %v", cfg, err), "")
		return
	}
	if major, _, _ := strings.Cut(v, "."); atoiOr0(major) < 8 {
		d.report("FAIL", "elasticsearch", fmt.Sprintf("version %s at %s", v, strings.Join(cfg.URLs, ",")),
			"essync needs Elasticsearch 8 or later (docker compose up -d starts one)")
		return
	}
	d.report("ok", "elasticsearch", fmt.Sprintf("version %s at %s", v, strings.Join(cfg.URLs, ",")), "")
	d.privileges(ctx, es, alias)
	d.alias(ctx, es, alias)
}

// neededPrivileges is what essync's commands use: cluster health and
// info (monitor); creating, loading, searching, re-aliasing and deleting
// <alias>-* indices; and its lease index.
func neededPrivileges(alias string) map[string]any {
	return map[string]any{
		"cluster": []string{"monitor"},
		"index": []map[string]any{
			{"names": []string{alias, alias + "-*"}, "privileges": []string{"create_index", "manage", "write", "read"}},
			{"names": []string{leaseIndex}, "privileges": []string{"create_index", "write", "read"}},
		},
	}
}

// privileges asks _security/user/_has_privileges for neededPrivileges.
func (d *doctor) privileges(ctx context.Context, es *elasticsearch.Client, alias string) {
	body, _ := json.Marshal(neededPrivileges(alias))
	res, err := es.Security.HasPrivileges(strings.NewReader(string(body)), es.Security.HasPrivileges.WithContext(ctx))
	if err != nil {
		d.report("FAIL", "privileges", err.Error(), "")
		return
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if res.IsError() {
		if securityDisabled(res.StatusCode, string(raw)) {
			d.report("info", "privileges", "security disabled, privileges not checked", "")
			return
		}
		d.report("FAIL", "privileges", fmt.Sprintf("_has_privileges answered %d: %s", res.StatusCode, strings.TrimSpace(string(raw))), "")
		return
	}
	var ans struct {
		Username string                     `json:"username"`
		All      bool                       `json:"has_all_requested"`
		Cluster  map[string]bool            `json:"cluster"`
		Index    map[string]map[string]bool `json:"index"`
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		d.report("FAIL", "privileges", fmt.Sprintf("_has_privileges answer: %v", err), "")
		return
	}
	if ans.All {
		d.report("ok", "privileges", fmt.Sprintf("user %q has monitor, and create_index/manage/write/read on %s, %s-* and %s",
			ans.Username, alias, alias, leaseIndex), "")
		return
	}
	d.report("FAIL", "privileges", fmt.Sprintf("user %q lacks: %s", ans.Username, strings.Join(missingPrivileges(ans.Cluster, ans.Index), ", ")),
		"grant them with a role (Kibana: Stack Management > Roles), or use a user or API key that has them")
}

// missingPrivileges lists the privileges a _has_privileges answer denies,
// sorted, e.g. "cluster:monitor", "products-*:manage".
func missingPrivileges(cluster map[string]bool, index map[string]map[string]bool) []string {
	var out []string
	for p, ok := range cluster {
		if !ok {
			out = append(out, "cluster:"+p)
		}
	}
	for name, privs := range index {
		for p, ok := range privs {
			if !ok {
				out = append(out, name+":"+p)
			}
		}
	}
	slices.Sort(out)
	return out
}

// securityDisabled recognises the answers of a cluster without the security
// API: no such route (x-pack absent) or security switched off.
func securityDisabled(status int, body string) bool {
	b := strings.ToLower(body)
	switch {
	case strings.Contains(b, "no handler found"):
		return true
	case strings.Contains(b, "security") &&
		(strings.Contains(b, "not enabled") || strings.Contains(b, "disabled") || strings.Contains(b, "explicitly enabled")):
		return true
	}
	return status == 404 || status == 405
}

// alias reports which index the alias points to and its essync metadata.
func (d *doctor) alias(ctx context.Context, es *elasticsearch.Client, alias string) {
	indices, err := esindex.AliasIndices(ctx, es, alias)
	switch {
	case err != nil:
		d.report("FAIL", "alias", err.Error(), "")
		return
	case len(indices) == 0:
		d.report("info", "alias", fmt.Sprintf("%s does not exist yet: the first `essync full --index %s` creates it", alias, alias), "")
		return
	case len(indices) > 1:
		d.report("FAIL", "alias", fmt.Sprintf("%s points to %d indices (%s); essync keeps it on exactly one", alias, len(indices), strings.Join(indices, ", ")),
			"run `essync rollback` or `essync full` to point it at one index")
		return
	}
	index, meta, err := esindex.ReadMeta(ctx, es, alias)
	if err != nil {
		d.report("FAIL", "alias", err.Error(), "")
		return
	}
	detail := fmt.Sprintf("%s -> %s: model %s, complete %t, %d documents", alias, index, orNone(meta.Model), meta.Complete, meta.Documents)
	switch {
	case meta.Model == "":
		d.report("warn", "alias", detail+"; no essync metadata", "this index was not built by essync: run `essync full`")
	case !meta.Complete:
		d.report("warn", "alias", detail, "the index was not verified complete: run `essync full`")
	case meta.Pending:
		d.report("warn", "alias", detail+", an incremental run was interrupted", "the next `essync incremental` finishes it")
	case d.fingerprint != "" && meta.Model != d.fingerprint:
		d.report("warn", "alias", detail+"; the default model here is "+d.fingerprint,
			"`essync incremental` refuses another model: run `essync full`, or pass the index's --model")
	default:
		d.report("ok", "alias", detail, "")
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func atoiOr0(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return n
}
