package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/persistence"
)

const keysUsage = `Usage: etaxd keys COMMAND [flags]

Commands:
  init     create the master key file with a fresh key (mode 0600); refuses to
           overwrite one
  rotate   add a master key version and re-encrypt every sealed secret under it
           (offline: stop etaxd first)

"etaxd keys init -h" and "etaxd keys rotate -h" list the flags.
`

// keysCmd is "etaxd keys rotate".
func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("keys", keysUsage, args, stdout, stderr, map[string]func([]string) int{
		"init":   func(args []string) int { return keysInit(args, stdout, stderr) },
		"rotate": func(args []string) int { return keysRotate(ctx, args, stdout, stderr) },
	})
}

// parseOptions parses an offline command's flags and resolves the options
// they bind. done reports that the command ends here, with code: -h, a
// usage error, or an invalid configuration (every problem printed).
func parseOptions(flags *flag.FlagSet, loader *config.Loader, args []string, stderr io.Writer) (_ config.Options, code int, done bool) {
	if code, handled := parseFlags(flags, args, stderr); handled {
		return config.Options{}, code, true
	}
	opts, err := loader.Options(nil)
	if err != nil {
		reportConfig(stderr, err)
		return opts, exitError, true
	}
	return opts, exitOK, false
}

// keysInit creates the master key file of the configuration (key_file, or
// <data>/master.keys) holding one fresh key v1, mode 0600. It never
// overwrites: a key file lost is every sealed secret lost.
func keysInit(args []string, stdout, stderr io.Writer) int {
	const name = "keys init"
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	loader := config.Bind(flags)
	flags.Usage = func() {
		fmt.Fprint(stderr, `Usage: etaxd keys init [flags]

Creates the master key file (--key-file, default <data>/master.keys) with one
fresh 256-bit key, version v1, mode 0600, for a production etaxd. It refuses
when the file exists. Back the file up: without it the sealed secrets
(passwords, session tokens, API key secrets) cannot be opened. It reads the
same configuration as serve (--data, --key-file, --config, ETAXD_*).

Flags:
`)
		config.PrintUsage(stderr)
	}
	opts, code, done := parseOptions(flags, loader, args, stderr)
	if done {
		return code
	}
	path := opts.KeyPath()
	if _, err := os.Lstat(path); err == nil {
		return failure(stderr, name, fmt.Errorf("%s exists: nothing was changed (it may hold the only copy of the keys; "+
			"to add a version use etaxd keys rotate)", path))
	} else if !errors.Is(err, fs.ErrNotExist) {
		return failure(stderr, name, err)
	}
	// LoadKeyring creates the file exclusively (O_EXCL) when asked to and
	// no other source holds a key; its development notice is not shown.
	_, err := persistence.LoadKeyring(persistence.KeyringOptions{File: path, CreateIfMissing: true,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return failure(stderr, name, err)
	}
	fmt.Fprintf(stdout, "created master key file %s (mode 0600, key v1): back it up, without it the sealed secrets cannot be opened\n", path)
	return exitOK
}

// keysRotate adds a master key version to the key file and re-encrypts
// every sealed value of the store under it (actors.Reseal). It works on the
// data directory directly, so no etaxd may run on it: a running one keeps
// sealed values and revisions in memory, and would fail its next writes
// (or, started before the rotation, never learn the new key). The store's
// file lock is the check: it is taken before the key file is touched.
func keysRotate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	const name = "keys rotate"
	flags := flag.NewFlagSet(name, flag.ContinueOnError)
	flags.SetOutput(stderr)
	loader := config.Bind(flags)
	resealOnly := flags.Bool("reseal-only", false,
		"add no key: only re-encrypt what is not under the current version (keys kept in the environment, or an interrupted rotation)")
	flags.Usage = func() {
		fmt.Fprint(stderr, `Usage: etaxd keys rotate [flags]

Adds a fresh master key version to the key file (the highest version seals
from now on), then re-encrypts every sealed secret in the store under it:
account passwords and session tokens, API key secrets, the login-link key.
OFFLINE: stop etaxd first; the command refuses while etaxd holds the store.
It reads the same configuration as serve (--data, --key-file, --keys-env,
--config, ETAXD_*). Keep the older key versions as long as you keep backups
made before the rotation.

Flags:
  --reseal-only
        add no key: only re-encrypt what is not under the current version
        (keys kept in the environment, or an interrupted rotation)
`)
		config.PrintUsage(stderr)
	}
	opts, code, done := parseOptions(flags, loader, args, stderr)
	if done {
		return code
	}
	// Notices of the keyring (never a key) only from WARN up: the command
	// prints what it did itself.
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: max(opts.SlogLevel(), slog.LevelWarn)}))

	// The store first: its lock says whether an etaxd runs on it.
	if _, err := os.Stat(opts.DBPath()); errors.Is(err, fs.ErrNotExist) {
		return failure(stderr, name, fmt.Errorf("no store at %s: nothing to re-encrypt (is --data right?)", opts.DBPath()))
	}
	store, err := persistence.OpenBolt(opts.DBPath(), persistence.BoltOptions{})
	if errors.Is(err, persistence.ErrLocked) {
		return failure(stderr, name, fmt.Errorf("%s is in use by a running etaxd: stop it first, keys rotate works offline "+
			"(a running etaxd keeps sealed secrets in memory and would not know the new key); nothing was changed", opts.DBPath()))
	}
	if err != nil {
		return failure(stderr, name, fmt.Errorf("open store: %w", err))
	}
	code = rotate(ctx, name, opts, store, *resealOnly, log, stdout, stderr)
	if err := store.Close(); err != nil {
		return failure(stderr, name, fmt.Errorf("close store: %w", err))
	}
	return code
}

func rotate(ctx context.Context, name string, opts config.Options, store persistence.Store, resealOnly bool, log *slog.Logger,
	stdout, stderr io.Writer) int {
	kopts := keyringOptions(opts, log)
	kopts.CreateIfMissing = false // no key file, no secret sealed with it
	keys, err := persistence.LoadKeyring(kopts)
	if err != nil {
		return failure(stderr, name, fmt.Errorf("load master keys: %w", err))
	}
	if !resealOnly {
		v, err := keys.AddKeyVersion()
		if errors.Is(err, persistence.ErrNoKeyFile) {
			return failure(stderr, name, fmt.Errorf("the master keys come from %s only, which etaxd cannot change: "+
				"add a v%d entry there yourself, then run etaxd keys rotate --reseal-only", opts.KeysEnv, keys.CurrentVersion()+1))
		}
		if err != nil {
			return failure(stderr, name, fmt.Errorf("add a key version: %w", err))
		}
		fmt.Fprintf(stdout, "added master key v%d to %s\n", v, kopts.File)
		// Load again: what is resealed must be under a key that reads
		// back from the file the next start loads.
		if keys, err = persistence.LoadKeyring(kopts); err != nil {
			return failure(stderr, name, fmt.Errorf("reload master keys: %w", err))
		}
		if keys.CurrentVersion() != v {
			return failure(stderr, name, fmt.Errorf("the reloaded keys' current version is v%d, not the new v%d (does %s hold a higher one?)",
				keys.CurrentVersion(), v, opts.KeysEnv))
		}
	}
	n, err := actors.Reseal(ctx, store, keys)
	if err == nil {
		// The key canary too, so that a start without the older
		// versions opens it.
		err = persistence.ResealKeyCheck(ctx, store, keys)
	}
	if err != nil {
		return failure(stderr, name, fmt.Errorf("re-encryption stopped after %d record%s: %w; every key version is kept, so nothing "+
			"is lost: fix the cause and run etaxd keys rotate --reseal-only", n, plural(n), err))
	}
	fmt.Fprintf(stdout, "re-encrypted %d record%s under master key v%d; no record needs an older version now\n", n, plural(n), keys.CurrentVersion())
	return exitOK
}
