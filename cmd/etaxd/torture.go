package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/domain"
)

// The torture subcommand is the durability test's load generator, kept out
// of the usage text. It opens the stack serve runs and applies a stream of
// state changes through the engine, printing "ACK <tax number>" after each
// one the engine acknowledged, so a test can SIGKILL it at any moment and
// then check that every acknowledged change survived:
//
//	etaxd torture --data DIR --n N     add N enterprises to tenant "torture"
//	etaxd torture --data DIR --verify  print "HAVE <tax number>" for each stored one
//
// It takes every serve flag as well.

const (
	tortureTenant = "torture"
	tortureRegion = "11"
)

func torture(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("torture", flag.ContinueOnError)
	fs.SetOutput(stderr)
	loader := config.Bind(fs)
	n := fs.Int("n", 1000, "state changes to apply")
	verify := fs.Bool("verify", false, "list the stored enterprises instead of adding any")
	if code, handled := parseFlags(fs, args, stderr); handled {
		return code
	}
	opts, err := loader.Options(nil)
	if err != nil {
		reportConfig(stderr, err)
		return exitError
	}
	st, err := openStack(opts, newLogger(opts, stderr))
	if err != nil {
		fmt.Fprintf(stderr, "etaxd torture: %v\n", err)
		return exitError
	}
	defer st.Close()

	if _, err := st.engine.Tenant(ctx, tortureTenant); errors.Is(err, domain.ErrTenantNotFound) {
		_, err = st.engine.CreateTenant(ctx, tortureTenant, "耐久测试租户", "")
	}
	if err != nil {
		fmt.Fprintf(stderr, "etaxd torture: tenant: %v\n", err)
		return exitError
	}
	have, err := st.engine.Enterprises(ctx, tortureTenant, "")
	if err != nil {
		fmt.Fprintf(stderr, "etaxd torture: list: %v\n", err)
		return exitError
	}
	if *verify {
		for _, e := range have {
			fmt.Fprintf(stdout, "HAVE %s\n", e.TaxNo)
		}
		return exitOK
	}

	// Each change waits for its acknowledgement, so what is stored is
	// always a prefix of the sequence: the next run continues after it.
	next := len(have) + 1
	for i := 0; i < *n && ctx.Err() == nil; i++ {
		seq := next + i
		taxNo := domain.MakeTaxNo(tortureRegion, seq)
		_, err := st.engine.AddEnterprise(ctx, tortureTenant, taxNo, fmt.Sprintf("耐久测试企业%07d", seq), tortureRegion)
		if err != nil {
			fmt.Fprintf(stderr, "etaxd torture: add %s: %v\n", taxNo, err)
			return exitError
		}
		// stdout is unbuffered (an *os.File): the line is out before the
		// next change starts.
		if _, err := fmt.Fprintf(stdout, "ACK %s\n", taxNo); err != nil {
			return exitError
		}
	}
	return exitOK
}
