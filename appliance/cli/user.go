package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"clinicbox/appliance"
	"clinicbox/appliance/config"
	"clinicbox/appliance/identity"
	"clinicbox/appliance/privacy/auditlog"
	"clinicbox/storage"
)

// SetupLinkTTL is how long the link printed by `user add` works.
const SetupLinkTTL = 24 * time.Hour

func user(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "user", "Usage: clinicbox user add --role ROLE --email E --name N [flags]\n\nCreates an account and prints a one-time set-up link (valid 24 hours).\nThe box must be stopped: the database has one owner at a time.\n",
		map[string]func(context.Context, Env, []string) int{"add": userAdd})
}

func userAdd(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("user add", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dataDir := dataDirFlag(fs, env)
	role := fs.String("role", "", "`ROLE` of the account: admin, staff or technician")
	email := fs.String("email", "", "the person's e-mail `ADDRESS` (their login)")
	name := fs.String("name", "", "the person's full `NAME`")
	title := fs.String("title", "", "professional `TITLE`, e.g. psykolog (staff)")
	baseURL := fs.String("base-url", "", "the box's address for the link (default: https://<hostname>:<port of --https-addr>)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: clinicbox user add --role ROLE --email E --name N [flags]\n\nCreates an account and prints a one-time set-up link (valid 24 hours).\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	r, err := identity.ParseRole(*role)
	if err != nil || (r != identity.RoleAdmin && r != identity.RoleStaff && r != identity.RoleTechnician) {
		fmt.Fprintf(env.Stderr, "clinicbox user add: --role: %q: use admin, staff or technician (clients are invited by staff)\n", *role)
		return ExitUsage
	}
	if err := identity.ValidateProfile(identity.Profile{Name: *name, Email: *email}, true); err != nil {
		var fe *identity.FieldError
		errors.As(err, &fe)
		fmt.Fprintf(env.Stderr, "clinicbox user add: --%s: %s\n", fe.Field, fe.Msg)
		return ExitUsage
	}
	base := *baseURL
	if base == "" {
		base = defaultBaseURL(env)
	}

	db, d, code := openForAdmin(env, *dataDir, "user add")
	if db == nil {
		return code
	}
	defer db.Close()
	defer d.Keys.Close()
	u, err := d.Identity.CreateUser(r, identity.Profile{Name: strings.TrimSpace(*name), Email: strings.TrimSpace(*email), Title: *title}, nil)
	if err != nil {
		if errors.Is(err, identity.ErrEmailTaken) {
			fmt.Fprintf(env.Stderr, "clinicbox user add: --email: an account with this address already exists\n")
			return ExitUsage
		}
		fmt.Fprintf(env.Stderr, "clinicbox user add: %v\n", err)
		return ExitFailure
	}
	tok, err := d.Identity.NewToken(identity.TokenSetup, u.ID, SetupLinkTTL)
	if err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox user add: %v\n", err)
		return ExitFailure
	}
	fmt.Fprintf(env.Stdout, "Created %s account %d. Give this link to the person; it works once, for 24 hours:\n\n  %s/setup/%s\n\n",
		r, u.ID, strings.TrimSuffix(base, "/"), tok)
	return ExitOK
}

// openForAdmin opens the database and the domain for an admin command,
// explaining the common problem: the box is running and owns the file.
func openForAdmin(env Env, dataDir, cmd string) (*storage.DB, *appliance.Domain, int) {
	path := filepath.Join(dataDir, appliance.DatabaseFile)
	db, err := storage.Open(path, storage.Options{})
	if err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox %s: %v\n", cmd, err)
		if errors.Is(err, storage.ErrLocked) {
			fmt.Fprintf(env.Stderr, "Stop the box first (systemctl stop clinicbox), then run this again.\n")
		}
		return nil, nil, ExitNeedsAdmin
	}
	d, err := appliance.OpenDomain(db, dataDir)
	if err != nil {
		db.Close()
		fmt.Fprintf(env.Stderr, "clinicbox %s: %v\n", cmd, err)
		return nil, nil, ExitNeedsAdmin
	}
	return db, d, ExitOK
}

func defaultBaseURL(env Env) string {
	host := "localhost"
	if names := config.DefaultHostnames(); len(names) > 0 {
		host = names[0]
	}
	port := "8443"
	if addr := env.Getenv(config.EnvName("https-addr")); addr != "" {
		if _, p, err := net.SplitHostPort(addr); err == nil {
			port = p
		}
	}
	if port == "443" {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, port)
}

func dataDirFlag(fs *flag.FlagSet, env Env) *string {
	defaults := config.Defaults(env.Getenv)
	return fs.String("data-dir", firstNonEmpty(env.Getenv(config.EnvName("data-dir")), defaults.DataDir), "the appliance's data `DIR`")
}

func audit(ctx context.Context, env Env, args []string) int {
	return dispatch(ctx, env, args, "audit", "Usage: clinicbox audit verify [--data-dir DIR]\n\nChecks the hash chain of the patient-data access log: any changed,\ninserted or removed entry is reported. Reads only. The box must be stopped.\n",
		map[string]func(context.Context, Env, []string) int{"verify": auditVerify})
}

func auditVerify(_ context.Context, env Env, args []string) int {
	fs := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	dataDir := dataDirFlag(fs, env)
	if code, done := parseFlags(fs, args, env); done {
		return code
	}
	report, ok, err := auditlog.VerifyFile(filepath.Join(*dataDir, appliance.DatabaseFile), 5*time.Second)
	if err != nil {
		fmt.Fprintf(env.Stderr, "clinicbox audit verify: %v\n", err)
		return ExitNeedsAdmin
	}
	fmt.Fprintln(env.Stdout, report)
	if !ok {
		return ExitNeedsAdmin
	}
	return ExitOK
}
