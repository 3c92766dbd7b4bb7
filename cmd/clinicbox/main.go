// Command clinicbox is the clinic's appliance: `clinicbox serve` runs it,
// the other subcommands are tools for its administrator. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"clinicbox/appliance/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, cli.Env{Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}
