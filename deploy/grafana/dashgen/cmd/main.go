// Command dashgen writes rankpulse's Grafana dashboards:
//
//	go run ./deploy/grafana/dashgen/cmd deploy/grafana/dashboards
package main

import (
	"fmt"
	"os"

	"github.com/rankpulse/rankpulse/deploy/grafana/dashgen"
)

func main() {
	dir := "deploy/grafana/dashboards"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	if err := dashgen.Write(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
