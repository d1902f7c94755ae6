package config_test

import (
	"testing"

	"github.com/rankpulse/rankpulse/config"
)

func TestCatchUpIsOnUnlessTurnedOff(t *testing.T) {
	if !config.Default().Jobs[0].CatchUp {
		t.Error("the built-in job does not catch up")
	}
	cfg, err := config.Parse([]byte(job+"  - name: b\n    countries: [us]\n    catch_up: false\n"), "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Jobs[0].CatchUp || cfg.Jobs[1].CatchUp {
		t.Errorf("catch_up: job a %v (default), job b %v (false)", cfg.Jobs[0].CatchUp, cfg.Jobs[1].CatchUp)
	}
	if _, err := config.Parse([]byte(job+"    catch_up: sometimes\n"), "c.yaml"); err == nil || err.Error() != `c.yaml:4: jobs[0].catch_up: got "sometimes", want true or false` {
		t.Errorf("catch_up: sometimes: %v", err)
	}
}
