package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/config"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/taxbureau"
)

// torture is the durability tests' load generator: test code, not part of
// the shipped binary. It opens the stack serve runs and applies a stream of
// state changes through the engine, printing "ACK <tax number>" after each
// one the engine acknowledged, so a test can SIGKILL it at any moment and
// then check that every acknowledged change survived. The tests run it as a
// subprocess (tortureCommand): the test binary, built with -race when the
// tests are, re-executes itself with tortureEnv set, and TestMain then runs
// torture on the arguments instead of the tests:
//
//	--data DIR --n N     add N enterprises to tenant "torture"
//	--data DIR --verify  print "HAVE <tax number>" for each stored one
//	--data DIR --n N --workers W
//	    apply N tenant-level changes to tenant "torture-t" from W concurrent
//	    workers (see tortureTenantOps)
//
// It takes every serve flag as well.

// tortureEnv, set to "1", makes the test binary run torture (tortureMain).
const tortureEnv = "GO_WANT_ETAXD_TORTURE"

// tortureMain is the process's main when TestMain sees tortureEnv: torture
// on the command line's arguments, ended by SIGINT or SIGTERM as etaxd's
// main is. It returns the exit code.
func tortureMain() int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return torture(ctx, os.Args[1:], os.Stdout, os.Stderr)
}

// tortureCommand is a torture subprocess with args: this test binary
// re-executed with tortureEnv set.
func tortureCommand(t *testing.T, ctx context.Context, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Env = append(os.Environ(), tortureEnv+"=1")
	return cmd
}

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
	workers := fs.Int("workers", 0, "apply tenant-level changes from this many concurrent workers instead of adding enterprises")
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
	if *workers > 0 {
		if err := tortureTenantOps(ctx, st, *workers, *n, stdout); err != nil {
			fmt.Fprintf(stderr, "etaxd torture: %v\n", err)
			return exitError
		}
		return exitOK
	}

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

// The tenant-level torture: W workers change one tenant concurrently. Worker
// w owns the WeChat user tortureOpenID(w) and the enterprise
// tortureEnterprise(w) (广东: no SMS step) with two accounts, so that each
// worker's changes are sequential while the tenant actor serves all of
// them at once. A worker prints "DO <w> <op>" before each change and
// "ACK <w> <op>" once the engine acknowledged it; ops are link, unlink,
// bind, unbind (the first account to the worker's user), admin, stepdown
// (F9) and default1, default2 (which account is the enterprise's default).
const (
	tortureOpsTenant = "torture-t"
	tortureOpsRegion = "44"
	torturePassword  = "Torture@2026a"
)

func tortureOpenID(w int) string     { return fmt.Sprintf("o_torture%d", w) }
func tortureEnterprise(w int) string { return domain.MakeTaxNo(tortureOpsRegion, 100+w) }
func tortureUser(w, k int) string    { return fmt.Sprintf("tt%d_%d", w, k) }

// tortureState is what a worker's changes leave: the state the test checks.
type tortureState struct {
	Linked, Admin, Bound bool
	Default              int // 1 or 2: the account that is the enterprise's default; 0 none
}

// apply returns the state after op.
func (s tortureState) apply(op string) tortureState {
	switch op {
	case "link":
		s.Linked = true
	case "unlink":
		s.Linked, s.Admin, s.Bound = false, false, false
	case "bind":
		s.Bound = true
	case "unbind":
		s.Bound = false
	case "admin":
		s.Admin = true
	case "stepdown":
		s.Admin = false
	case "default1":
		s.Default = 1
	case "default2":
		s.Default = 2
	}
	return s
}

// ops lists the changes valid in s.
func (s tortureState) ops() []string {
	out := []string{"default1", "default2"}
	if !s.Linked {
		return append(out, "link")
	}
	out = append(out, "unlink")
	if s.Bound {
		out = append(out, "unbind")
	} else {
		out = append(out, "bind")
	}
	if s.Admin {
		out = append(out, "stepdown")
	} else {
		out = append(out, "admin")
	}
	return out
}

// tortureAccounts returns the ids of worker w's two accounts, "" for one
// that is missing.
func tortureAccounts(ctx context.Context, eng *actors.Engine, w int) ([2]string, error) {
	var ids [2]string
	vs, err := eng.Accounts(ctx, tortureOpsTenant, tortureEnterprise(w), "")
	if err != nil {
		return ids, err
	}
	for _, v := range vs {
		for k := range ids {
			if v.Username == tortureUser(w, k+1) {
				ids[k] = v.ID
			}
		}
	}
	return ids, nil
}

// tortureObserve reads worker w's state from the engine.
func tortureObserve(ctx context.Context, eng *actors.Engine, w int) (tortureState, error) {
	var s tortureState
	ids, err := tortureAccounts(ctx, eng, w)
	if err != nil {
		return s, err
	}
	_, err = eng.UnlinkPreview(ctx, tortureOpsTenant, tortureOpenID(w))
	switch {
	case err == nil:
		s.Linked = true
	case !errors.Is(err, domain.ErrNotLinked):
		return s, err
	}
	es, err := eng.Enterprises(ctx, tortureOpsTenant, tortureOpenID(w))
	if err != nil {
		return s, err
	}
	for _, e := range es {
		if e.TaxNo != tortureEnterprise(w) {
			continue
		}
		s.Admin = e.IsAdmin
		for k, id := range ids {
			if id != "" && e.Defaults.Flags(id) == domain.BusinessBoth {
				s.Default = k + 1
			}
		}
	}
	vs, err := eng.Accounts(ctx, tortureOpsTenant, tortureEnterprise(w), "")
	if err != nil {
		return s, err
	}
	for _, v := range vs {
		if v.ID == ids[0] {
			s.Bound = v.BoundOpenID == tortureOpenID(w)
		}
	}
	return s, nil
}

// tortureSetup creates what the workers change, once: the tenant, each
// worker's enterprise and accounts; and it sets a fresh activation code.
func tortureSetup(ctx context.Context, st *stack, workers int) (string, error) {
	eng := st.engine
	if st.sim == nil {
		return "", errors.New("the tenant torture needs the simulator")
	}
	if _, err := eng.Tenant(ctx, tortureOpsTenant); errors.Is(err, domain.ErrTenantNotFound) {
		if _, err := eng.CreateTenant(ctx, tortureOpsTenant, "耐久测试租户", ""); err != nil {
			return "", fmt.Errorf("create tenant: %w", err)
		}
	} else if err != nil {
		return "", err
	}
	info, err := eng.RotateActivationCode(ctx, tortureOpsTenant)
	if err != nil {
		return "", fmt.Errorf("activation code: %w", err)
	}
	have, err := eng.Enterprises(ctx, tortureOpsTenant, "")
	if err != nil {
		return "", err
	}
	exists := map[string]bool{}
	for _, e := range have {
		exists[e.TaxNo] = true
	}
	for w := range workers {
		tn := tortureEnterprise(w)
		if !exists[tn] {
			if _, err := eng.AddEnterprise(ctx, tortureOpsTenant, tn, fmt.Sprintf("耐久测试企业%d", w), tortureOpsRegion); err != nil {
				return "", fmt.Errorf("add enterprise %s: %w", tn, err)
			}
		}
		ids, err := tortureAccounts(ctx, eng, w)
		if err != nil {
			return "", err
		}
		for k, role := range []domain.Role{domain.RoleLegalRep, domain.RoleFinanceManager} {
			user := tortureUser(w, k+1)
			// The simulator keeps its persons (sim-persons.json): a run
			// after a kill finds the ones it added before.
			p := taxbureau.Person{Name: user, IDType: taxbureau.IDTypeResidentCard,
				IDNumber: residentID(fmt.Sprintf("44010519800101%01d%02d", k, w)), Phone: fmt.Sprintf("1360000%02d%02d", w, k),
				Username: user, Password: torturePassword,
				Relations: []taxbureau.Relation{{TaxNo: tn, Region: tortureOpsRegion, Role: role}}}
			if _, known := st.sim.FindPerson(user); !known {
				if err := st.sim.AddPerson(p); err != nil {
					return "", fmt.Errorf("person %s: %w", user, err)
				}
			}
			if ids[k] != "" {
				continue
			}
			r, err := eng.AddAccount(ctx, tortureOpsTenant, actors.AddAccount{TaxNo: tn, Business: "both", Username: user,
				Password: domain.NewSecret(torturePassword), LoginType: string(domain.LoginManual)})
			if err == nil && r.State != actors.FlowDone {
				err = fmt.Errorf("add flow is %s", r.State)
			}
			if err != nil {
				return "", fmt.Errorf("add account %s: %w", user, err)
			}
		}
	}
	return info.ActivationCode, nil
}

// tortureTenantOps runs the workers until n changes were acknowledged in
// all, or one fails.
func tortureTenantOps(ctx context.Context, st *stack, workers, n int, stdout io.Writer) error {
	code, err := tortureSetup(ctx, st, workers)
	if err != nil {
		return err
	}
	eng := st.engine
	var mu sync.Mutex
	var failed error
	left := n
	// say prints one line; stdout is unbuffered, so the line is out before
	// the next change starts. It reports false once the run should end.
	say := func(format string, args ...any) bool {
		mu.Lock()
		defer mu.Unlock()
		if _, err := fmt.Fprintf(stdout, format, args...); err != nil && failed == nil {
			failed = err
		}
		return failed == nil
	}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := tortureObserve(ctx, eng, w)
			if err == nil {
				err = tortureWorker(ctx, eng, w, s, code, say, func() bool {
					mu.Lock()
					defer mu.Unlock()
					left--
					return left >= 0 && failed == nil
				})
			}
			if err != nil {
				mu.Lock()
				if failed == nil {
					failed = fmt.Errorf("worker %d: %w", w, err)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return failed
}

// tortureWorker applies random valid changes to worker w's state s while
// next grants them.
func tortureWorker(ctx context.Context, eng *actors.Engine, w int, s tortureState, code string,
	say func(string, ...any) bool, next func() bool) error {
	ids, err := tortureAccounts(ctx, eng, w)
	if err != nil {
		return err
	}
	openid, tn := tortureOpenID(w), tortureEnterprise(w)
	for ctx.Err() == nil && next() {
		ops := s.ops()
		op := ops[rand.IntN(len(ops))]
		if !say("DO %d %s\n", w, op) {
			return nil
		}
		var err error
		switch op {
		case "link":
			_, err = eng.LinkTenant(ctx, openid, code)
		case "unlink":
			_, err = eng.UnlinkTenant(ctx, tortureOpsTenant, openid)
		case "bind":
			err = eng.Bind(ctx, tortureOpsTenant, ids[0], openid)
		case "unbind":
			err = eng.Unbind(ctx, tortureOpsTenant, ids[0], openid)
		case "admin":
			var r actors.FlowReply
			r, err = eng.ApplyAdmin(ctx, tortureOpsTenant, tn, openid, tortureUser(w, 1), domain.NewSecret(torturePassword))
			if err == nil && r.State != actors.FlowDone {
				err = fmt.Errorf("admin flow is %s", r.State)
			}
		case "stepdown":
			err = eng.StepDownAdmin(ctx, tortureOpsTenant, tn, openid)
		case "default1", "default2":
			id := ids[0]
			if op == "default2" {
				id = ids[1]
			}
			err = eng.SetDefault(ctx, tortureOpsTenant, id, "", domain.BusinessBoth)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		s = s.apply(op)
		if !say("ACK %d %s\n", w, op) {
			return nil
		}
	}
	return nil
}
