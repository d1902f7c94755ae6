package faults_test

// The damaged-file part of the fault suite, against the real binary: a
// 12-slot database (imported from a snapshot file generated from a fixed
// seed) with 2,000 bytes overwritten — at its header, in its first page,
// and at offsets drawn from fixed seeds. export must keep what is readable
// and never give a wrong rank; run --once must go on, or say what to do;
// db check must find the damage, and db recover must copy what is readable
// into a file that runs.

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rankpulse/rankpulse/internal/fakestore"
)

type entry struct {
	Rank      int    `json:"rank"`
	AppID     string `json:"app_id"`
	Name      string `json:"name,omitempty"`
	Developer string `json:"developer,omitempty"`
}

type snapshot struct {
	Time     time.Time `json:"time"`
	Store    string    `json:"store"`
	Country  string    `json:"country"`
	Chart    string    `json:"chart"`
	Category string    `json:"category"`
	Source   string    `json:"source"`
	Complete bool      `json:"complete"`
	Depth    int       `json:"depth"`
	Entries  []entry   `json:"entries"`
	Error    string    `json:"error,omitempty"`
}

func (s *snapshot) key() string {
	return s.Time.UTC().Format(time.RFC3339) + " " + s.Store + "/" + s.Country + "/" + s.Chart + "/" + s.Category
}

// history is 12 hourly slots of 14 charts of 200 apps of a pool of 2,000.
func history(t *testing.T) (string, map[string]snapshot) {
	t.Helper()
	rng := rand.New(rand.NewPCG(12, 14))
	t0 := time.Date(2026, 11, 1, 0, 7, 0, 0, time.UTC)
	var b strings.Builder
	all := map[string]snapshot{}
	for slot := range 12 {
		for _, cc := range []string{"us", "gb", "de", "tr", "br", "in", "jp"} {
			for _, cat := range []string{"all", "6005"} {
				s := snapshot{Time: t0.Add(time.Duration(slot) * time.Hour), Store: "appstore", Country: cc, Chart: "top-free", Category: cat, Source: "charts", Complete: true, Depth: 200}
				for r, i := range rng.Perm(2000)[:200] {
					s.Entries = append(s.Entries, entry{Rank: r + 1, AppID: fmt.Sprint(1400000000 + i*7919), Name: fmt.Sprintf("App %d", i), Developer: fmt.Sprintf("Developer %d", i%97)})
				}
				line, _ := json.Marshal(s)
				b.Write(line)
				b.WriteByte('\n')
				all[s.key()] = s
			}
		}
	}
	path := filepath.Join(t.TempDir(), "history.jsonl")
	os.WriteFile(path, []byte(b.String()), 0o600)
	return path, all
}

// judge checks exported lines against what was imported: every rank the
// app it was (a name may be lost, entries only with complete false).
func judge(t *testing.T, out string, orig map[string]snapshot) (whole, degraded int) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var s snapshot
		if err := json.Unmarshal([]byte(line), &s); err != nil {
			t.Errorf("not a snapshot line: %.200s", line)
			continue
		}
		o, ok := orig[s.key()]
		if !ok {
			t.Errorf("%s: never imported", s.key())
			continue
		}
		byRank := map[int]entry{}
		for _, e := range o.Entries {
			byRank[e.Rank] = e
		}
		same := len(s.Entries) == len(o.Entries)
		for _, e := range s.Entries {
			oe := byRank[e.Rank]
			switch {
			case oe.AppID != e.AppID:
				t.Errorf("%s: rank %d is %s, imported %s: a wrong rank", s.key(), e.Rank, e.AppID, oe.AppID)
			case e.Name != oe.Name && e.Name != "":
				t.Errorf("%s: rank %d named %q, imported %q", s.key(), e.Rank, e.Name, oe.Name)
			case e.Name != oe.Name:
				same = false
			}
		}
		if len(s.Entries) < len(o.Entries) && s.Complete {
			t.Errorf("%s: %d of %d entries, and complete", s.key(), len(s.Entries), len(o.Entries))
		}
		if same && s.Complete {
			whole++
		} else {
			degraded++
		}
	}
	return whole, degraded
}

func rp(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(rankpulse(t), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func dataConfig(t *testing.T, dir, url string) string {
	t.Helper()
	cfg := filepath.Join(dir, "rankpulse.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`data_dir: %s
listen: ""
stores:
  appstore:
    endpoints: {itunes: %q, marketing: %q}
    rate: 100
jobs:
  - {name: j, stores: [appstore], countries: [us], charts: [top-free], categories: {appstore: [all]}}
`, filepath.Join(dir, "data"), url, url)), 0o600)
	return cfg
}

func TestADamagedDatabaseKeepsWhatIsReadable(t *testing.T) {
	jsonl, orig := history(t)
	_, url := serve(t, "none", fakestore.Fault{})
	base := t.TempDir()
	baseCfg := dataConfig(t, base, url)
	if code, _, stderr := rp(t, "import", "--config", baseCfg, "--input", jsonl); code != 0 {
		t.Fatalf("import: %d %s", code, stderr)
	}
	file := filepath.Join(base, "data", "rankpulse.db")
	fi, _ := os.Stat(file)
	cases := []struct {
		name string
		off  int64
	}{{"header", 0}, {"first page", 100}}
	for seed := uint64(1); seed <= 6; seed++ {
		f := rand.New(rand.NewPCG(seed, 2000)).Float64()
		cases = append(cases, struct {
			name string
			off  int64
		}{fmt.Sprintf("seed %d", seed), int64(f * float64(fi.Size()-2000))})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := dataConfig(t, dir, url)
			os.MkdirAll(filepath.Join(dir, "data"), 0o755)
			b, _ := os.ReadFile(file)
			rng := rand.New(rand.NewPCG(uint64(tc.off), 2000))
			for i := range 2000 {
				b[tc.off+int64(i)] = byte(rng.UintN(256))
			}
			db := filepath.Join(dir, "data", "rankpulse.db")
			os.WriteFile(db, b, 0o644)

			code, out, stderr := rp(t, "export", "--config", cfg)
			whole, degraded := judge(t, out, orig)
			t.Logf("offset %d: export exit %d, %d whole + %d degraded of %d; stderr: %.300s", tc.off, code, whole, degraded, len(orig), lastLine(stderr))
			checkCode, checkOut, _ := rp(t, "db", "check", "--config", cfg)
			recovered := filepath.Join(dir, "recovered.db")
			recCode, recOut, recErr := rp(t, "db", "recover", "--config", cfg, "--output", recovered)
			t.Logf("db check: exit %d; db recover: exit %d\n%s%s", checkCode, recCode, recOut, recErr)
			onceCode, _, onceErr := rp(t, "run", "--once", "--config", cfg)
			t.Logf("run --once: exit %d: %.300s", onceCode, lastLine(onceErr))

			if recCode != 0 {
				t.Fatalf("db recover failed")
			}
			rdir := t.TempDir()
			rcfg := dataConfig(t, rdir, url)
			os.MkdirAll(filepath.Join(rdir, "data"), 0o755)
			os.Rename(recovered, filepath.Join(rdir, "data", "rankpulse.db"))
			rcode, rout, rerr := rp(t, "export", "--config", rcfg)
			rwhole, rdegraded := judge(t, rout, orig)
			t.Logf("the recovered file: export exit %d, %d whole + %d degraded", rcode, rwhole, rdegraded)
			if rcode != 0 {
				t.Errorf("export of the recovered file: exit %d: %s", rcode, rerr)
			}
			if whole+degraded < rwhole+rdegraded {
				t.Errorf("export kept %d snapshots, a recovery %d: export must keep what is readable", whole+degraded, rwhole+rdegraded)
			}
			if code != 0 && !strings.Contains(stderr, "db check") && !strings.Contains(stderr, "db recover") {
				t.Errorf("export exited %d without saying what to do", code)
			}
			if onceCode != 0 && (onceCode != 1 || !strings.Contains(onceErr, "db recover")) {
				t.Errorf("run --once exited %d without saying what to do", onceCode)
			}
			if checkCode == 0 && (whole != len(orig) || !strings.Contains(checkOut, ": ok")) {
				t.Errorf("db check found nothing wrong while an export keeps %d whole of %d", whole, len(orig))
			}
			if code, _, stderr := rp(t, "run", "--once", "--config", rcfg); code != 0 {
				t.Errorf("run --once on the recovered file: exit %d: %s", code, stderr)
			}
		})
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	return s[strings.LastIndex(s, "\n")+1:]
}
