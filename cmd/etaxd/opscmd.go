package main

import (
	"context"
	"flag"
	"io"
	"net/url"
)

// opsCommand is one "etaxd NOUN VERB" command that talks to a running
// etaxd's ops API. Every such command takes the client flags (--server,
// --token-file, --timeout, …); tenant adds the required --tenant ID; json
// adds --json (print the answer as etaxd sent it). exec parses the flags,
// reports a missing --tenant, runs check (more usage rules: it returns
// exitOK to go on), then run with a client and a context bounded by
// --timeout. A run error is printed as "etaxd NAME: ERROR" and exits 1.
type opsCommand struct {
	name      string // "apikey list"
	argsUsage string // " KEY": the positional arguments in the usage line
	summary   string
	minArgs   int
	maxArgs   int
	tenant    bool
	json      bool
	flags     func(fs *flag.FlagSet, cf *clientFlags) // the command's own flags
	check     func(pos []string) int
	run       func(ctx context.Context, c *client, a opsArgs) error
}

// opsArgs is what an opsCommand's run gets: the tenant (when the command
// takes one), the positional arguments and whether --json was given.
type opsArgs struct {
	Tenant string
	Pos    []string
	JSON   bool
}

// tenantPath is the ops API path of the tenant's resource rest
// ("/enterprises"), the tenant id escaped.
func (a opsArgs) tenantPath(rest string) string {
	return "/ops/v1/tenants/" + url.PathEscape(a.Tenant) + rest
}

// exec runs the command with args, writing usage and errors to stderr.
func (oc opsCommand) exec(ctx context.Context, args []string, stderr io.Writer) int {
	var cf clientFlags
	var a opsArgs
	return runSubcommand(oc.name, oc.argsUsage, oc.summary, oc.minArgs, oc.maxArgs, args, stderr,
		func(fs *flag.FlagSet) {
			cf.bind(fs)
			if oc.tenant {
				fs.StringVar(&a.Tenant, "tenant", "", "the tenant `ID` (required)")
			}
			if oc.flags != nil {
				oc.flags(fs, &cf)
			}
			if oc.json {
				fs.BoolVar(&a.JSON, "json", false, "print the JSON answer")
			}
		},
		func(pos []string) int {
			if oc.tenant && a.Tenant == "" {
				return usageError(stderr, oc.name, "--tenant is required")
			}
			if oc.check != nil {
				if rc := oc.check(pos); rc != exitOK {
					return rc
				}
			}
			a.Pos = pos
			return withClient(ctx, oc.name, &cf, stderr, func(ctx context.Context, c *client) error {
				return oc.run(ctx, c, a)
			})
		})
}
