// Package cli is the clinicbox command line: it dispatches subcommands,
// prints errors a person can act on and chooses exit codes that mean
// something to systemd.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"clinicbox/appliance"
	"clinicbox/appliance/config"
	"clinicbox/appliance/version"
	"clinicbox/storage"
)

// Exit codes. clinicbox.service lists 2 and 3 in RestartPreventExitStatus=:
// restarting cannot fix a wrong setting or a corrupt database.
const (
	ExitOK         = 0
	ExitFailure    = 1 // a run-time failure; a restart may help
	ExitUsage      = 2 // a wrong flag, value or setting
	ExitNeedsAdmin = 3 // corrupt or locked database: a person must act
)

// Env is the process environment the CLI needs, so tests can run it
// in-process.
type Env struct {
	Stdout, Stderr io.Writer
	Getenv         func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, env Env, args []string) int
}

func commands() []command {
	return []command{
		{"serve", "run the appliance", serve},
		{"user", "accounts: user add (prints a set-up link)", user},
		{"audit", "the patient-data access log: audit verify", audit},
		{"db", "database tools: db check", db},
		{"version", "print the version", printVersion},
	}
}

// Main runs the command line and returns the exit code.
func Main(ctx context.Context, env Env, args []string) int {
	if len(args) == 0 {
		usage(env.Stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		usage(env.Stdout)
		return ExitOK
	case "--version", "-version":
		return printVersion(ctx, env, nil)
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, env, args[1:])
		}
	}
	fmt.Fprintf(env.Stderr, "clinicbox: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "clinicbox: a secure communication box for small clinics.\n\nUsage: clinicbox <command> [flags]\n\nCommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, "\nRun 'clinicbox <command> --help' for a command's flags.\n")
}

func serve(ctx context.Context, env Env, args []string) int {
	cfg, err := config.Load(args, env.Getenv, env.Stderr)
	if errors.Is(err, config.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox serve: %v\n", err)
		return ExitUsage
	}
	log := appliance.NewLogger(cfg.LogFormat, cfg.LogLevel, env.Stderr)
	a, err := appliance.New(cfg, log)
	if err != nil {
		return startFailure(env, err)
	}
	if err := a.Run(ctx); err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox serve: %v\n", err)
		return ExitFailure
	}
	return ExitOK
}

// startFailure prints why the box could not start, with what to do.
func startFailure(env Env, err error) int {
	var fe *config.FieldError
	switch {
	case errors.As(err, &fe):
		fmt.Fprintf(env.Stderr, "clinicbox serve: %v\n", err)
		return ExitUsage
	case errors.Is(err, storage.ErrCorrupt):
		fmt.Fprintf(env.Stderr, "clinicbox serve: %v\nThe database was left as it is. Run 'clinicbox db check' for details, or restore the latest backup.\n", err)
		return ExitNeedsAdmin
	case errors.Is(err, storage.ErrLocked):
		fmt.Fprintf(env.Stderr, "clinicbox serve: %v\n", err)
		return ExitNeedsAdmin
	}
	fmt.Fprintf(env.Stderr, "clinicbox serve: %v\n", err)
	return ExitFailure
}

func printVersion(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: clinicbox version\n\nPrints the version, commit and build date.\n")
	}
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	fmt.Fprintln(env.Stdout, version.Get())
	return ExitOK
}

func db(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "db", "Usage: clinicbox db check [--data-dir DIR]\n\nChecks the database file for consistency and prints a verdict.\nIt only reads; it never changes the file.\n",
		map[string]func(context.Context, Env, []string) int{"check": dbCheck})
}

// dispatch runs one of a command's subcommands ("db check", "user add"),
// printing the usage for help, nothing or an unknown name.
func dispatch(ctx context.Context, env Env, args []string, name, usage string, subs map[string]func(context.Context, Env, []string) int) int {
	if len(args) == 0 {
		fmt.Fprint(env.Stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "-help", "help":
		fmt.Fprint(env.Stdout, usage)
		return ExitOK
	}
	if run, ok := subs[args[0]]; ok {
		return run(ctx, env, args[1:])
	}
	fmt.Fprintf(env.Stderr, "clinicbox %s: unknown command %q\n\n%s", name, args[0], usage)
	return ExitUsage
}

func dbCheck(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("db check", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dataDir := dataDirFlag(fs, env)
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the database file")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: clinicbox db check [flags]\n\nChecks the database for consistency and prints a verdict; exits 0 when it is sound.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	path := filepath.Join(*dataDir, appliance.DatabaseFile)
	report, err := storage.Check(path, *timeout)
	if err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox db check: %v\n", err)
		switch {
		case errors.Is(err, storage.ErrCorrupt):
			fmt.Fprintf(env.Stderr, "The file was not changed. Restore the latest backup.\n")
			return ExitNeedsAdmin
		case errors.Is(err, storage.ErrLocked):
			return ExitNeedsAdmin
		}
		return ExitFailure
	}
	fmt.Fprintln(env.Stdout, report.String())
	if !report.OK {
		return ExitNeedsAdmin
	}
	return ExitOK
}

// parseFlags parses a subcommand's flags; done reports that the command
// must end now with code (help shown, or a usage error naming the flag).
func parseFlags(fs *flag.FlagSet, args []string, env Env) (code int, done bool) {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK, true
	}
	if err != nil {
		return ExitUsage, true // the flag package has printed the flag and usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.Stderr, "clinicbox %s: unexpected argument %q\n", fs.Name(), strings.Join(fs.Args(), " "))
		return ExitUsage, true
	}
	return 0, false
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
