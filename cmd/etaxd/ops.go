package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/http/opsapi"
)

// The operator subcommands: thin clients of a running etaxd's ops API
// (package opsapi, mounted under /ops) and of GET /ops/status.

const tenantUsage = `Usage: etaxd tenant COMMAND [flags]

Commands:
  create --name NAME [--id ID] [--activation-code CODE]   create a tenant; prints its activation code once
  list                                                  list the tenants
  rotate-code --tenant ID                               replace a tenant's activation code; prints the new one

"etaxd tenant COMMAND -h" lists a command's flags.
`

const apikeyUsage = `Usage: etaxd apikey COMMAND [flags]

Commands:
  create --tenant ID [--id KEY]   make an API key for a tenant; prints its secret once
  list --tenant ID                list a tenant's keys (never their secrets)
  revoke KEY                      refuse the key from now on

"etaxd apikey COMMAND -h" lists a command's flags.
`

const enterpriseUsage = `Usage: etaxd enterprise COMMAND [flags]

Commands:
  add --tenant ID --tax-no TAXNO --name NAME [--region CODE]   add an enterprise (纳税人) to a tenant
  list --tenant ID                                             list a tenant's enterprises

"etaxd enterprise COMMAND -h" lists a command's flags.
`

const auditUsage = `Usage: etaxd audit export --tenant ID [--from T] [--to T] [--format csv|json] [-o FILE]

"etaxd audit export -h" lists the flags.
`

// nounCommand dispatches "etaxd NOUN VERB ...": no verb, -h or help print
// usage; an unknown verb is a usage error.
func nounCommand(noun, usage string, args []string, stdout, stderr io.Writer, verbs map[string]func([]string) int) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	if run, ok := verbs[args[0]]; ok {
		return run(args[1:])
	}
	fmt.Fprintf(stderr, "etaxd %s: unknown command %q\n\n%s", noun, args[0], usage)
	return exitUsage
}

// withClient resolves the client of cf and runs f with a context bounded
// by cf's timeout; an unusable --server is a usage error.
func withClient(ctx context.Context, name string, cf *clientFlags, stderr io.Writer, f func(context.Context, *client) error) int {
	c, err := cf.client()
	if err != nil {
		if errors.Is(err, errBadServer) {
			return usageError(stderr, name, "%v", err)
		}
		return failure(stderr, name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	if err := f(ctx, c); err != nil {
		return failure(stderr, name, err)
	}
	return exitOK
}

// statusCmd is "etaxd status".
func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var cf clientFlags
	var raw bool
	return runSubcommand("status", "", "Print the status of a running etaxd (GET /ops/status): node, uptime, readiness, counters.",
		0, 0, args, stderr,
		func(fs *flag.FlagSet) {
			cf.bind(fs)
			fs.BoolVar(&raw, "json", false, "print the JSON as etaxd sent it")
		},
		func([]string) int {
			return withClient(ctx, "status", &cf, stderr, func(ctx context.Context, c *client) error {
				_, b, err := c.do(ctx, http.MethodGet, "/ops/status", nil)
				if err != nil {
					return err
				}
				if raw {
					_, err := fmt.Fprintf(stdout, "%s\n", bytes.TrimSpace(b))
					return err
				}
				return printStatus(stdout, c.base, b)
			})
		})
}

// statusOrder puts the first lines of the status summary in order; the
// other fields follow by name.
var statusOrder = []string{"node", "version", "go_version", "ready", "started_at", "uptime_seconds", "goroutines"}

// printStatus writes a status document as aligned "name  value" lines:
// the top-level fields first, then each object as a section. It knows
// only a few field names, so fields etaxd adds later show up as they come.
func printStatus(w io.Writer, server string, b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return fmt.Errorf("unexpected answer: %.200s", b)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		ia, ib := slices.Index(statusOrder, a), slices.Index(statusOrder, b)
		switch {
		case ia >= 0 && ib >= 0:
			return ia - ib
		case ia >= 0:
			return -1
		case ib >= 0:
			return 1
		}
		return strings.Compare(a, b)
	})
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "server\t%s\n", server)
	var sections []string
	for _, k := range keys {
		if _, ok := m[k].(map[string]any); ok {
			sections = append(sections, k)
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\n", k, statusValue(k, m[k]))
	}
	for _, k := range sections {
		fmt.Fprintf(tw, "\n%s\n", k)
		printSection(tw, "  ", m[k].(map[string]any))
	}
	return tw.Flush()
}

// printSection writes an object's fields sorted by name, nested objects
// indented below their name.
func printSection(w io.Writer, indent string, m map[string]any) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if obj, ok := m[k].(map[string]any); ok {
			fmt.Fprintf(w, "%s%s\n", indent, k)
			printSection(w, indent+"  ", obj)
			continue
		}
		fmt.Fprintf(w, "%s%s\t%s\n", indent, k, statusValue(k, m[k]))
	}
}

// statusValue formats one value: booleans as yes/no, uptime as a
// duration, lists compactly, null as "-".
func statusValue(key string, v any) string {
	switch v := v.(type) {
	case nil:
		return "-"
	case bool:
		if v {
			return "yes"
		}
		return "no"
	case json.Number:
		if key == "uptime_seconds" {
			if f, err := v.Float64(); err == nil {
				return time.Duration(f * float64(time.Second)).Round(time.Second).String()
			}
		}
		return v.String()
	case string:
		return v
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// tenantCmd is "etaxd tenant create|list|rotate-code".
func tenantCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("tenant", tenantUsage, args, stdout, stderr, map[string]func([]string) int{
		"create": func(args []string) int {
			var id, name, code string
			return opsCommand{
				name: "tenant create", json: true,
				summary: "Create a tenant. Its activation code is printed once: etaxd keeps only its hash.",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					fs.StringVar(&name, "name", "", "the tenant's `NAME` (required)")
					fs.StringVar(&id, "id", "", "the tenant's `ID`: lower-case letters, digits, - and _ (default: a new one)")
					fs.StringVar(&code, "activation-code", "", "the activation `CODE` users link the tenant with, at least 6 characters (default: a random one)")
				},
				check: func([]string) int {
					if strings.TrimSpace(name) == "" {
						return usageError(stderr, "tenant create", "--name is required")
					}
					return exitOK
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodPost, "/ops/v1/tenants", opsapi.CreateTenantRequest{ID: id, Name: name, ActivationCode: code})
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var t opsapi.Tenant
					if err := decodeAnswer(b, &t); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "tenant %s (%s) created\nactivation code: %s\n(shown once: etaxd keeps only its hash; \"etaxd tenant rotate-code --tenant %s\" makes a new one)\n",
						t.ID, t.Name, t.ActivationCode, t.ID)
					return nil
				},
			}.exec(ctx, args, stderr)
		},
		"list": func(args []string) int {
			return opsCommand{
				name: "tenant list", json: true, summary: "List the tenants.",
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodGet, "/ops/v1/tenants", nil)
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var list struct{ Tenants []opsapi.Tenant }
					if err := decodeAnswer(b, &list); err != nil {
						return err
					}
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tNAME")
					for _, t := range list.Tenants {
						fmt.Fprintf(tw, "%s\t%s\n", t.ID, t.Name)
					}
					return tw.Flush()
				},
			}.exec(ctx, args, stderr)
		},
		"rotate-code": func(args []string) int {
			return opsCommand{
				name: "tenant rotate-code", tenant: true, json: true,
				summary: "Replace a tenant's activation code; the old one stops working. The new one is printed once.",
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodPost, a.tenantPath("/rotate-code"), nil)
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var t opsapi.Tenant
					if err := decodeAnswer(b, &t); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "tenant %s: new activation code: %s\n(shown once; the old code no longer works)\n", t.ID, t.ActivationCode)
					return nil
				},
			}.exec(ctx, args, stderr)
		},
	})
}

// enterpriseCmd is "etaxd enterprise add|list": the enterprises of a
// tenant, through the ops API's provisioning routes.
func enterpriseCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("enterprise", enterpriseUsage, args, stdout, stderr, map[string]func([]string) int{
		"add": func(args []string) int {
			var taxNo, name, region string
			return opsCommand{
				name: "enterprise add", tenant: true, json: true,
				summary: "Add an enterprise to a tenant. The tax number (统一社会信用代码 or a legacy id) is checked; the region comes from it unless --region says otherwise.",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					fs.StringVar(&taxNo, "tax-no", "", "the enterprise's tax number `TAXNO` (required)")
					fs.StringVar(&name, "name", "", "the enterprise's `NAME` (required)")
					fs.StringVar(&region, "region", "", "the 2-digit region `CODE` (default: from the tax number)")
				},
				check: func([]string) int {
					switch {
					case strings.TrimSpace(taxNo) == "":
						return usageError(stderr, "enterprise add", "--tax-no is required")
					case strings.TrimSpace(name) == "":
						return usageError(stderr, "enterprise add", "--name is required")
					}
					return exitOK
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodPost, a.tenantPath("/enterprises"),
						opsapi.EnterpriseRequest{TaxNo: taxNo, Name: name, Region: region})
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var e actors.EnterpriseView
					if err := decodeAnswer(b, &e); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "enterprise %s (%s, region %s) added to tenant %s\n", e.TaxNo, e.Name, e.Region, a.Tenant)
					return nil
				},
			}.exec(ctx, args, stderr)
		},
		"list": func(args []string) int {
			return opsCommand{
				name: "enterprise list", tenant: true, json: true,
				summary: "List a tenant's enterprises: tax number, region, accounts, 数电配置管理员 and name.",
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodGet, a.tenantPath("/enterprises"), nil)
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var list struct{ Enterprises []actors.EnterpriseView }
					if err := decodeAnswer(b, &list); err != nil {
						return err
					}
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "TAX_NO\tREGION\tACCOUNTS\tADMINS\tNAME")
					for _, e := range list.Enterprises {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", e.TaxNo, e.Region, e.Accounts, e.Admins, e.Name)
					}
					return tw.Flush()
				},
			}.exec(ctx, args, stderr)
		},
	})
}

// apikeyCmd is "etaxd apikey create|list|revoke".
func apikeyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("apikey", apikeyUsage, args, stdout, stderr, map[string]func([]string) int{
		"create": func(args []string) int {
			var id string
			return opsCommand{
				name: "apikey create", tenant: true, json: true,
				summary: "Make an API key for a tenant's client (ERP). Its secret is printed once: etaxd keeps it sealed.",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					fs.StringVar(&id, "id", "", "the key `ID`: lower-case letters, digits, - and _ (default: a new one)")
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodPost, a.tenantPath("/apikeys"), opsapi.CreateAPIKeyRequest{ID: id})
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var k opsapi.APIKey
					if err := decodeAnswer(b, &k); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "API key %s for tenant %s\nsecret: %s\n(shown once: give it to the client now; etaxd cannot show it again)\n", k.ID, k.Tenant, k.Secret)
					return nil
				},
			}.exec(ctx, args, stderr)
		},
		"list": func(args []string) int {
			return opsCommand{
				name: "apikey list", tenant: true, json: true,
				summary: "List a tenant's API keys (never their secrets).",
				run: func(ctx context.Context, c *client, a opsArgs) error {
					_, b, err := c.do(ctx, http.MethodGet, a.tenantPath("/apikeys"), nil)
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					var list struct {
						APIKeys []opsapi.APIKey `json:"api_keys"`
					}
					if err := decodeAnswer(b, &list); err != nil {
						return err
					}
					tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tCREATED\tREVOKED")
					for _, k := range list.APIKeys {
						revoked := "-"
						if k.RevokedAt != nil {
							revoked = k.RevokedAt.Format(time.RFC3339)
						}
						fmt.Fprintf(tw, "%s\t%s\t%s\n", k.ID, k.CreatedAt.Format(time.RFC3339), revoked)
					}
					return tw.Flush()
				},
			}.exec(ctx, args, stderr)
		},
		"revoke": func(args []string) int {
			return opsCommand{
				name: "apikey revoke", argsUsage: " KEY", minArgs: 1, maxArgs: 1,
				summary: "Revoke an API key: etaxd refuses it from now on (every node of a cluster within 3 s).",
				run: func(ctx context.Context, c *client, a opsArgs) error {
					if _, _, err := c.do(ctx, http.MethodDelete, "/ops/v1/apikeys/"+url.PathEscape(a.Pos[0]), nil); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "API key %s revoked\n", a.Pos[0])
					return nil
				},
			}.exec(ctx, args, stderr)
		},
	})
}

// auditCmd is "etaxd audit export".
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("audit", auditUsage, args, stdout, stderr, map[string]func([]string) int{
		"export": func(args []string) int {
			var from, to, format, out string
			return opsCommand{
				name: "audit export", tenant: true,
				summary: "Export a tenant's audit log (who did what, when, with which outcome; never a secret).\n" +
					"--from and --to are RFC 3339 times or dates (a day in China time); --to is exclusive.",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					fs.StringVar(&from, "from", "", "first `TIME` or date to include (default: the beginning)")
					fs.StringVar(&to, "to", "", "`TIME` or date to stop before (default: now)")
					fs.StringVar(&format, "format", "csv", "`FORMAT`: csv or json")
					fs.StringVar(&out, "o", "", "write to `FILE` (mode 0600) instead of standard output")
				},
				check: func([]string) int {
					if format != "csv" && format != "json" {
						return usageError(stderr, "audit export", "--format must be csv or json, got %q", format)
					}
					return exitOK
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					q := url.Values{"format": {format}}
					if from != "" {
						q.Set("from", from)
					}
					if to != "" {
						q.Set("to", to)
					}
					_, b, err := c.do(ctx, http.MethodGet, a.tenantPath("/audit?"+q.Encode()), nil)
					if err != nil {
						return err
					}
					if out == "" {
						_, err := stdout.Write(b)
						return err
					}
					if err := writeFileAtomic(out, b); err != nil {
						return err
					}
					fmt.Fprintf(stdout, "wrote %d audit events of tenant %s to %s\n", countEvents(format, b), a.Tenant, out)
					return nil
				},
			}.exec(ctx, args, stderr)
		},
	})
}

// countEvents counts the events of an export.
func countEvents(format string, b []byte) int {
	if format == "json" {
		var v struct{ Events []json.RawMessage }
		_ = json.Unmarshal(b, &v)
		return len(v.Events)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) == 0 {
		return 0
	}
	return len(rows) - 1 // the header
}

// printRaw prints a JSON answer as it came, unless err.
func printRaw(w io.Writer, b []byte, err error) error {
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", bytes.TrimSpace(b))
	return err
}

// writeFileAtomic writes b to path (mode 0600) through a temporary file in
// the same directory, so that a failure leaves no half-written file.
func writeFileAtomic(path string, b []byte) error {
	return writeAtomic(path, func(w io.Writer) error {
		_, err := w.Write(b)
		return err
	})
}

// writeAtomic is writeFileAtomic with what write writes: the file appears
// at path, mode 0600, only when write returned nil and it is synced.
func writeAtomic(path string, write func(io.Writer) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	name := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		err = write(f)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
	}
	return err
}
