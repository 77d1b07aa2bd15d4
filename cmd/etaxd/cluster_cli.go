package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

const clusterUsage = `Usage: etaxd cluster status [--tenant ID] [--json]
       etaxd cluster dump -o FILE

Prints GET /ops/cluster of a running etaxd: this node, every member (alive,
joined, last heartbeat, the tenants active there), blocked member ids, the
NATS servers, each stream's leader and lagging replicas, and with --tenant
the node where that tenant lives.

dump writes the whole store of the node's cluster (GET /ops/v1/store/dump) to
FILE, for "etaxd store restore" on a single node.
`

// clusterCmd is "etaxd cluster status".
func clusterCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("cluster", clusterUsage, args, stdout, stderr, map[string]func([]string) int{
		"status": func(args []string) int {
			var tenant string
			return opsCommand{
				name: "cluster status", json: true,
				summary: "Print the cluster as the node at --server sees it (GET /ops/cluster).",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					fs.StringVar(&tenant, "tenant", "", "also say where the tenant `ID` lives")
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					path := "/ops/cluster"
					if tenant != "" {
						path += "?tenant=" + url.QueryEscape(tenant)
					}
					_, b, err := c.do(ctx, http.MethodGet, path, nil)
					if err != nil || a.JSON {
						return printRaw(stdout, b, err)
					}
					return printCluster(stdout, b)
				},
			}.exec(ctx, args, stderr)
		},
		"dump": func(args []string) int { return clusterDump(ctx, args, stdout, stderr) },
	})
}

// printCluster writes the cluster document as a member table, then the
// streams and the tenant's node.
func printCluster(w io.Writer, b []byte) error {
	var doc struct {
		Node    string
		Mode    string
		Members []struct {
			Name, ID, Address, State string
			Alive                    bool
			Joined                   time.Time
			LastHeartbeat            time.Time `json:"last_heartbeat"`
			Tenants                  []string
		}
		Streams []struct {
			Name, Leader string
			Lagging      []string
		}
		Tenant *struct{ ID, Node string }
		NATS   struct {
			Server, Cluster, Connected string
			External                   bool
			Servers                    []string
		}
	}
	if err := decodeAnswer(b, &doc); err != nil {
		return err
	}
	fmt.Fprintf(w, "node %s (%s)\n", doc.Node, doc.Mode)
	if n := doc.NATS; n.External {
		fmt.Fprintf(w, "external NATS cluster %s: connected to %s at %s; servers %s\n", n.Cluster, n.Server, n.Connected,
			strings.Join(n.Servers, ","))
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tALIVE\tSTATE\tADDRESS\tJOINED\tLAST_HEARTBEAT\tTENANTS")
	for _, m := range doc.Members {
		tenants := "-"
		if m.Tenants != nil {
			tenants = strconv.Itoa(len(m.Tenants))
		}
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\t%s\n", m.Name, m.Alive, m.State, m.Address,
			clusterTime(m.Joined), clusterTime(m.LastHeartbeat), tenants)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(doc.Streams) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "STREAM\tLEADER\tLAGGING")
		for _, s := range doc.Streams {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Name, s.Leader, strings.Join(s.Lagging, ","))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if doc.Tenant != nil {
		fmt.Fprintf(w, "\ntenant %s lives on %s\n", doc.Tenant.ID, doc.Tenant.Node)
	}
	return nil
}

func clusterTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
