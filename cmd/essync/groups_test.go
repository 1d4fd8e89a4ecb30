package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/essync/essync/esindex/estest"
)

// groupRows runs essync groups with args and returns product id -> the
// columns of its CSV row (group_id, size, product_id, similarity, fields…).
func groupRows(t *testing.T, args ...string) map[string][]string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "groups.csv")
	if code := runArgs(append(append([]string{"essync", "groups"}, args...), "--format", "csv", "--min-size", "1", "--out", out)...); code != exitOK {
		t.Fatalf("essync groups %v: exit %d", args, code)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]string{}
	for _, r := range rows[1:] {
		got[r[2]] = r
	}
	return got
}

// groupPairs lists the product pairs that share a group, keyed "a|b" (a < b).
func groupPairs(groupOf map[string]string) map[string]bool {
	members := map[string][]string{}
	for id, g := range groupOf {
		members[g] = append(members[g], id)
	}
	pairs := map[string]bool{}
	for _, m := range members {
		slices.Sort(m)
		for i := range m {
			for _, b := range m[i+1:] {
				pairs[m[i]+"|"+b] = true
			}
		}
	}
	return pairs
}

// TestGroupsCalibration embeds the labelled set with the current default
// model and checks the default threshold with --group-apart colour (as the
// README advises for catalogs with colour variants) and the layout verifier
// (on, as the images are given): issue 12's targets, precision ≥ 0.99 and
// recall ≥ 0.90, with no colour variant, look-alike or other region of the
// same photo grouped, and recall at the calibrated level. Without the
// verifier, the regions of one photo (which the vectors cannot tell apart)
// are grouped: the verifier is what meets the target.
// scripts/calibrate-groups redraws the curve and picks the threshold.
func TestGroupsCalibration(t *testing.T) {
	needORTLib(t)
	data := "../../testdata/groups"
	vectors := filepath.Join(t.TempDir(), "vectors")
	if code := runArgs("essync", "--log-level", "warn", "embed", "--catalog", data+"/catalog.json", "--images", data+"/images",
		"--out", vectors, "--cache", filepath.Join(t.TempDir(), "c.bolt")); code != exitOK {
		t.Fatalf("embed: exit %d", code)
	}
	hue := regexp.MustCompile(`-hue\d+$`)
	for _, tt := range []struct {
		name              string
		flags             []string
		minPrecision      float64
		regionsAreAllowed bool
	}{
		{"layout verifier", nil, 0.99, false},
		{"vectors alone", []string{"--group-verify=false"}, 0, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows := groupRows(t, append([]string{"--vectors", vectors, "--catalog", data + "/catalog.json", "--images", data + "/images",
				"--group-apart", "colour", "--fields", "group,photo"}, tt.flags...)...)
			truth, pred := map[string]string{}, map[string]string{}
			photo := map[string]string{}
			for id, r := range rows {
				pred[id], truth[id], photo[id] = r[0], r[4], r[5]
			}
			if len(rows) != 144 {
				t.Fatalf("%d products grouped, want the 144 of the labelled set", len(rows))
			}
			want, got := groupPairs(truth), groupPairs(pred)
			var tp, region int
			for p := range got {
				if want[p] {
					tp++
					continue
				}
				a, b, _ := strings.Cut(p, "|")
				switch {
				case hue.ReplaceAllString(truth[a], "") == hue.ReplaceAllString(truth[b], ""):
					t.Errorf("colour variants grouped despite --group-apart colour: %s (%s) and %s (%s)", a, truth[a], b, truth[b])
				case photo[a] == photo[b]:
					region++
					if !tt.regionsAreAllowed {
						t.Errorf("two regions of one photo grouped: %s (%s) and %s (%s)", a, truth[a], b, truth[b])
					}
				default:
					t.Errorf("look-alike products grouped: %s (%s) and %s (%s)", a, truth[a], b, truth[b])
				}
			}
			precision, recall := float64(tp)/float64(max(1, len(got))), float64(tp)/float64(len(want))
			t.Logf("default threshold, --group-apart colour, %s: pairwise precision %.4f, recall %.4f (%d true pairs, %d grouped, %d same-photo-region pairs)",
				tt.name, precision, recall, len(want), len(got), region)
			// Calibrated (efficientnet-lite0-int8 + scda-crop-c192-k70-s1, threshold
			// 0.64): precision 1.00, recall 0.939 with the verifier (the c192-s1 card
			// before it: 0.62, 1.00 / 0.966); the vectors alone group the 72
			// same-photo region pairs.
			if precision < tt.minPrecision {
				t.Errorf("pairwise precision %.4f at the default threshold, want at least %.2f: rerun scripts/calibrate-groups", precision, tt.minPrecision)
			}
			if recall < 0.93 {
				t.Errorf("pairwise recall %.4f at the default threshold, calibrated at 0.966: rerun scripts/calibrate-groups", recall)
			}
			if tt.regionsAreAllowed && region == 0 {
				t.Error("the vectors alone group no region of one photo: the labelled set no longer needs the verifier; recheck it")
			}
		})
	}
}

// TestGroupsFromIndex loads the end-to-end catalog into Elasticsearch with
// essync full, then reads the groups back from the live index: they must
// follow the catalog's eight groups (no group mixes two; a variant the model
// scores below the threshold may stand alone), and equal what --vectors gives.
func TestGroupsFromIndex(t *testing.T) {
	needORTLib(t)
	index := estest.IndexName(t, "groups")
	data := "../../testdata/e2e"
	cache := filepath.Join(t.TempDir(), "c.bolt")
	out := t.TempDir()
	if code := runArgs("essync", "--log-level", "warn", "full", "--catalog", data+"/catalog.json", "--images", data+"/images",
		"--es-url", estest.URL(), "--index", index, "--replicas", "0", "--cache", cache, "--out", out,
		"--report", filepath.Join(out, "report.json")); code != exitOK {
		t.Fatalf("full: exit %d", code)
	}
	live := groupRows(t, "--es-url", estest.URL(), "--index", index, "--fields", "group")
	if len(live) != 48 {
		t.Fatalf("%d products from the index, want 48", len(live))
	}
	// Each catalog group's photo variants share one offer group, which holds
	// nothing else; the re-coloured variant (hue +40°) may stand apart, as
	// other colours should (see testdata/groups).
	catalogOf := map[string]map[string]bool{} // offer group -> catalog groups in it
	offerOf := map[string]string{}            // catalog group -> offer group of its original
	for id, r := range live {
		if catalogOf[r[0]] == nil {
			catalogOf[r[0]] = map[string]bool{}
		}
		catalogOf[r[0]][r[4]] = true
		if strings.HasSuffix(id, "-orig") {
			offerOf[r[4]] = r[0]
		}
	}
	for g, in := range catalogOf {
		if len(in) != 1 {
			t.Errorf("offer group %s mixes catalog groups %v", g, in)
		}
	}
	// A photo variant may stand alone where the model scores it below the
	// threshold against all its mates (with efficientnet-lite0-int8 +
	// scda-crop: ihc-crop, 80 % crop, at most 0.68; rocket-half at most
	// 0.70), but never in another group, and most join their original.
	joined, variants := 0, 0
	for id, r := range live {
		if strings.HasSuffix(id, "-recolor") {
			continue
		}
		variants++
		switch {
		case r[0] == offerOf[r[4]]:
			joined++
		case r[1] != "1":
			t.Errorf("%s: offer group %s of %s, but %s-orig is in %s", id, r[0], r[1], r[4], offerOf[r[4]])
		default:
			t.Logf("%s stands alone (its original is in %s)", id, offerOf[r[4]])
		}
	}
	if joined < variants-4 {
		t.Errorf("%d of %d photo variants share their original's offer group, want at least %d", joined, variants, variants-4)
	}
	vectors := filepath.Join(t.TempDir(), "vectors")
	if code := runArgs("essync", "--log-level", "warn", "embed", "--catalog", data+"/catalog.json", "--images", data+"/images",
		"--out", vectors, "--cache", cache); code != exitOK {
		t.Fatalf("embed: exit %d", code)
	}
	for id, r := range groupRows(t, "--vectors", vectors) {
		if live[id] == nil || live[id][0] != r[0] {
			t.Errorf("%s: group %v from --vectors, %v from the index", id, r[:2], live[id])
		}
	}
	// With the images, both sources run the layout verifier, as full did.
	verified := groupRows(t, "--es-url", estest.URL(), "--index", index, "--images", data+"/images")
	for id, r := range groupRows(t, "--vectors", vectors, "--catalog", data+"/catalog.json", "--images", data+"/images") {
		if verified[id] == nil || verified[id][0] != r[0] {
			t.Errorf("%s: group %v from --vectors with the images, %v from the index with them", id, r[:2], verified[id])
		}
	}
	// --stored reads what full stored in the list documents (schema 4):
	// the groups full computed with the images, without reading a vector.
	stored := groupRows(t, "--es-url", estest.URL(), "--index", index, "--stored", "--fields", "group")
	if len(stored) != 48 {
		t.Errorf("%d products from the stored groups, want 48", len(stored))
	}
	for id, r := range verified {
		s := stored[id]
		if s == nil || s[0] != r[0] || s[1] != r[1] || s[3] != "" || s[4] != live[id][4] {
			t.Errorf("%s: stored %v, computed with the images %v (group field %q)", id, s, r, live[id][4])
		}
	}
}

func TestGroupsCommandUsage(t *testing.T) {
	t.Setenv("ELASTICSEARCH_URL", "")
	t.Setenv("ESSYNC_ES_URL", "")
	dir := t.TempDir()
	tests := [][]string{
		{"essync", "groups"},
		{"essync", "groups", "--vectors", dir, "--format", "xml"},
		{"essync", "groups", "--vectors", dir, "--catalog", "c.json"},
		{"essync", "groups", "--vectors", dir, "--group-threshold", "1.5"},
		{"essync", "groups", "--vectors", dir, "--k", "0"},
		{"essync", "groups", "--vectors", dir, "--stored"},
		{"essync", "groups", "--stored"},
	}
	for _, args := range tests {
		if code := runArgs(args...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args[2:], code, exitUsage)
		}
	}
}
