package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rankpulse/rankpulse/internal/pgtest"
)

// `cluster status` without storage.url is a usage error saying what to
// set; with it, a `run --once` of one instance shows in the text and JSON
// status: the instance (stopped after its run), the evaluator lock free
// again, and the slot's fetches all done by it. `export` reads the same
// store.
func TestClusterStatus(t *testing.T) {
	e := newEnv(t, false, "")
	code, _, stderr := invoke(t, "", "cluster", "status", "--config", e.cfgPath)
	if code != exitUsage || !strings.Contains(stderr, "no storage.url") {
		t.Fatalf("without a cluster: exit %d: %s", code, stderr)
	}
	url := pgtest.Database(t)
	cfg, err := os.ReadFile(e.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg = append(cfg, []byte(fmt.Sprintf("storage: {url: %q}\ncluster: {name: solo}\n", url))...)
	path := filepath.Join(e.dir, "cluster.yaml")
	if err := os.WriteFile(path, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := invoke(t, "", "config", "check", "--config", path)
	if code != exitOK || !strings.Contains(out, "reachable, schema version 3; this instance is \"solo\"") {
		t.Fatalf("config check of a cluster config: exit %d:\n%s%s", code, out, stderr)
	}
	if code, _, stderr := invoke(t, "", "run", "--once", "--config", path); code != exitOK {
		t.Fatalf("run --once on the cluster: exit %d: %s", code, stderr)
	}
	// db check and recover are for the embedded file: on PostgreSQL they
	// say so, rather than look for a file in data_dir.
	for _, sub := range [][]string{{"db", "check"}, {"db", "recover", "--output", filepath.Join(e.dir, "r.db")}} {
		code, _, stderr := invoke(t, "", append(sub, "--config", path)...)
		if code == exitOK || !strings.Contains(stderr, "stores in PostgreSQL") || !strings.Contains(stderr, "amcheck") {
			t.Errorf("%v on a cluster config: exit %d: %s", sub, code, stderr)
		}
	}
	code, out, stderr = invoke(t, "", "cluster", "status", "--config", path)
	if code != exitOK || !strings.Contains(out, "0 instances alive of 1 known; evaluator: none") || !strings.Contains(out, "solo      stopped") || !strings.Contains(out, "solo 12") {
		t.Fatalf("cluster status: exit %d:\n%s%s", code, out, stderr)
	}
	code, out, _ = invoke(t, "", "cluster", "status", "--format", "json", "--config", path)
	var st struct {
		Instances []struct{ Name string }
		Slots     []struct{ Done int }
	}
	if err := json.Unmarshal([]byte(out), &st); code != exitOK || err != nil || len(st.Instances) != 1 || len(st.Slots) != 1 || st.Slots[0].Done != 12 {
		t.Fatalf("json status: exit %d, %v: %s", code, err, out)
	}
	code, out, stderr = invoke(t, "", "export", "--config", path)
	if snaps := readSnapshots(t, out); code != exitOK || len(snaps) != 12 {
		t.Fatalf("export from the cluster's store: exit %d, %d snapshots: %s", code, len(snaps), stderr)
	}
}
