package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/etaxd/etaxd/config"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // a start-up or run-time failure (the message says which)
	exitUsage = 2 // an unknown subcommand, flag or argument
)

const usageText = `etaxd — session manager for Chinese e-tax-bureau accounts (电子税务局)

Usage:
  etaxd [serve] [flags]   run the server (the default subcommand)
  etaxd version           print the version
  etaxd help              print this text

Operators (clients of a running etaxd: --server, --token or <data>/operator.token; see "etaxd COMMAND -h"):
  etaxd status                                 node, uptime, readiness and counters
  etaxd cluster status [--tenant ID]           the cluster's members, NATS, where a tenant lives
  etaxd cluster dump -o FILE                   the whole store, for store restore on a single node
  etaxd tenant create|list|rotate-code         tenants and their activation codes
  etaxd enterprise add|list                    a tenant's enterprises (纳税人)
  etaxd apikey create|list|revoke              the API keys of a tenant's clients
  etaxd audit export --tenant ID               a tenant's audit log as CSV or JSON
  etaxd import accounts FILE --tenant ID       add enterprises and accounts from a CSV or XLSX file

Offline (stop etaxd first):
  etaxd keys init                              create the master key file (mode 0600) for production
  etaxd keys rotate                            new master key version; re-encrypt every secret
  etaxd store restore FILE                     a new store from a cluster dump (back to a single node)

Developers:
  etaxd call METHOD PATH [BODY]                send a signed client-API request (--demo: the demo key)
  etaxd sign METHOD PATH [BODY]                print the signature headers (--curl: a curl command)

Every serve flag also has an ETAXD_* environment variable and a key in the
JSON file given with --config; flags beat the environment, which beats the
file. "etaxd serve -h" lists them all. Exit codes: 0 ok, 1 failure, 2 usage,
75 a cluster node evicted by the others (start it again).
`

// run executes one command line and returns the process exit code. ctx
// ends on SIGINT or SIGTERM.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmd, rest := "serve", args
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, rest = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, versionString())
		return exitOK
	case "help":
		fmt.Fprint(stdout, usageText)
		return exitOK
	case "status":
		return statusCmd(ctx, rest, stdout, stderr)
	case "cluster":
		return clusterCmd(ctx, rest, stdout, stderr)
	case "store":
		return storeCmd(ctx, rest, stdout, stderr)
	case "tenant":
		return tenantCmd(ctx, rest, stdout, stderr)
	case "enterprise":
		return enterpriseCmd(ctx, rest, stdout, stderr)
	case "apikey":
		return apikeyCmd(ctx, rest, stdout, stderr)
	case "audit":
		return auditCmd(ctx, rest, stdout, stderr)
	case "import":
		return importCmd(ctx, rest, stdout, stderr)
	case "keys":
		return keysCmd(ctx, rest, stdout, stderr)
	case "call":
		return callCmd(ctx, rest, stdout, stderr)
	case "sign":
		return signCmd(ctx, rest, stdout, stderr)
	}
	fmt.Fprintf(stderr, "etaxd: unknown command %q\n\n%s", cmd, usageText)
	return exitUsage
}

// versionString is "etaxd <version> <go version> <os>/<arch>", plus the
// commit when the build recorded one.
func versionString() string {
	s := fmt.Sprintf("etaxd %s %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, kv := range bi.Settings {
			switch kv.Key {
			case "vcs.revision":
				rev = kv.Value
			case "vcs.modified":
				if kv.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" {
			s += " commit " + rev + dirty
		}
	}
	return s
}

// parseFlags parses a subcommand's flags. It reports handled (with the exit
// code) when parsing ended the command: -h, a bad flag, or a positional
// argument.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) (code int, handled bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, true
		}
		return exitUsage, true // the flag package printed the error and the usage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "etaxd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, true
	}
	return 0, false
}

// reportConfig prints every configuration problem, one per line.
func reportConfig(w io.Writer, err error) {
	ps := config.Problems(err)
	fmt.Fprintf(w, "etaxd: invalid configuration (%d problem%s):\n", len(ps), plural(len(ps)))
	for _, p := range ps {
		fmt.Fprintf(w, "  - %v\n", p)
	}
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
