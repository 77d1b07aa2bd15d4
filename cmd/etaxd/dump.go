package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/persistence"
)

// dumpTimeout is "cluster dump"'s default bound: a store of a million
// accounts takes minutes to read.
const dumpTimeout = time.Hour

// clusterDump is "etaxd cluster dump -o FILE": GET /ops/v1/store/dump of a
// running node into FILE (mode 0600), written beside it and renamed once
// the dump's end line is in, so that FILE is a whole dump or nothing.
func clusterDump(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var out string
	return opsCommand{
		name: "cluster dump",
		summary: "Write the whole store of the running etaxd at --server (a cluster node, or a single node) to a file,\n" +
			"for etaxd store restore on a single node (docs/CLUSTER.md, Back to a single node). The file holds\n" +
			"everything the store does, secrets sealed: keep it like the store. Stop the clients' changes first.",
		flags: func(fs *flag.FlagSet, cf *clientFlags) {
			fs.StringVar(&out, "o", "", "write to `FILE` (mode 0600; required)")
			if f := fs.Lookup("timeout"); f != nil { // a longer default
				_ = f.Value.Set(dumpTimeout.String())
				f.DefValue = dumpTimeout.String()
			}
		},
		check: func([]string) int {
			if out == "" {
				return usageError(stderr, "cluster dump", "-o FILE is required")
			}
			return exitOK
		},
		run: func(ctx context.Context, c *client, _ opsArgs) error {
			n, err := c.download(ctx, "/ops/v1/store/dump", out, dumpComplete)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "wrote the store's dump (%d bytes) to %s\n", n, out)
			return nil
		},
	}.exec(ctx, args, stderr)
}

// dumpComplete checks that a dump ends with its end line.
func dumpComplete(tail []byte) error {
	tail = bytes.TrimRight(tail, "\n")
	if i := bytes.LastIndexByte(tail, '\n'); i >= 0 {
		tail = tail[i+1:]
	}
	if !bytes.HasPrefix(tail, []byte(`{"end":`)) {
		return errors.New("the dump stopped before its end (the node's log says why); nothing was written")
	}
	return nil
}

// download GETs path into the file at path out, through a temporary file
// beside it renamed once complete approves the answer's last bytes.
func (c *client) download(ctx context.Context, path, out string, complete func(tail []byte) error) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("GET %s: %w (is etaxd running there? see --server)", req.URL.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return 0, errorOf(resp.StatusCode, b)
	}
	var n int64
	err = writeAtomic(out, func(w io.Writer) error {
		tail := &tailWriter{max: 4096}
		var err error
		if n, err = io.Copy(io.MultiWriter(w, tail), resp.Body); err != nil {
			return err
		}
		return complete(tail.b)
	})
	return n, err
}

// tailWriter keeps the last max bytes written to it.
type tailWriter struct {
	b   []byte
	max int
}

func (t *tailWriter) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = append(t.b[:0], t.b[len(t.b)-t.max:]...)
	}
	return len(p), nil
}

const storeUsage = `Usage: etaxd store restore FILE|- [flags]

Restores a dump written by "etaxd cluster dump" into a new store in --data
(OFFLINE: etaxd must not run on that data directory), for a single node:
records and audit log as they were, secrets still sealed. The master keys
(--key-file or ETAXD_MASTER_KEYS) must be the cluster's: restore checks that
they open the dump's sealed key canary. It refuses a data directory that
holds a store already. "etaxd store restore -h" lists the flags.
`

// storeCmd is "etaxd store restore".
func storeCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("store", storeUsage, args, stdout, stderr, map[string]func([]string) int{
		"restore": func(args []string) int { return storeRestore(ctx, args, stdout, stderr) },
	})
}

func storeRestore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "store restore"
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	loader := config.Bind(flags)
	flags.Usage = func() {
		fmt.Fprint(stderr, storeUsage+"\nFlags:\n")
		config.PrintUsage(stderr)
	}
	// FILE first, then the flags (the flag package stops at the first
	// positional argument).
	if len(args) == 0 || (len(args[0]) > 0 && args[0][0] == '-' && args[0] != "-") {
		if code, handled := parseFlags(flags, args, stderr); handled {
			return code
		}
		return usageError(stderr, name, "FILE is required (a dump of etaxd cluster dump)")
	}
	file, rest := args[0], args[1:]
	opts, code, done := parseOptions(flags, loader, rest, stderr)
	if done {
		return code
	}
	if flags.NArg() > 0 {
		return usageError(stderr, name, "unexpected argument %q", flags.Arg(0))
	}
	if err := restoreStore(ctx, opts, file, stdout); err != nil {
		return failure(stderr, name, err)
	}
	return exitOK
}

// restoreStore restores the dump at file into opts' store path, through a
// new file beside it renamed once the dump is in and the keys open it.
func restoreStore(ctx context.Context, opts config.Options, file string, stdout io.Writer) error {
	dst := opts.DBPath()
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("a store exists at %s: restore into a new data directory (--data); nothing was changed", dst)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var in io.Reader = os.Stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	kopts := keyringOptions(opts, log)
	kopts.CreateIfMissing = false // the cluster's keys, not new ones
	keys, err := persistence.LoadKeyring(kopts)
	if err != nil {
		return fmt.Errorf("load master keys (the cluster's): %w", err)
	}
	tmp := dst + ".restoring"
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b, err := persistence.OpenBolt(tmp, persistence.BoltOptions{})
	if err != nil {
		return fmt.Errorf("open %s: %w", tmp, err)
	}
	st, err := persistence.Restore(ctx, b, bufio.NewReaderSize(in, 1<<20))
	if err == nil {
		if err = persistence.CheckKeys(ctx, b, keys); err != nil {
			err = fmt.Errorf("%w: the master keys given are not the cluster's", err)
		}
	}
	if cerr := b.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("%w; nothing was restored", err)
	}
	fmt.Fprintf(stdout, "restored %d records and %d audit events into %s\n", st.Records, st.Events, dst)
	return nil
}
