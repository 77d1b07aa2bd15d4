package main

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/etaxd/etaxd/domain"
)

// TestAcknowledgedChangesSurviveSIGKILL is the durability test of issue
// item 9. It runs torture in a subprocess (tortureCommand), which adds
// enterprises through the engine and prints "ACK <tax number>" after each acknowledgement, kills
// it with SIGKILL after a random number of acks, reopens the data
// directory and checks that every acknowledged change is stored, five
// times on the same directory so that the acks accumulate across crashes.
func TestAcknowledgedChangesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess")
	}
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	var acked []string
	for round := 1; round <= 5; round++ {
		k := 20 + rng.IntN(181)
		got := killAfterAcks(t, dir, k)
		if len(got) < k {
			t.Fatalf("round %d: %d acks, want at least %d", round, len(got), k)
		}
		acked = append(acked, got...)

		st := openTestStack(t, dir, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		ents, err := st.engine.Enterprises(ctx, tortureTenant, "")
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		stored := map[string]bool{}
		for _, e := range ents {
			stored[e.TaxNo] = true
		}
		for _, tn := range acked {
			if !stored[tn] {
				t.Errorf("round %d: acknowledged %s is not stored", round, tn)
			}
		}
		// Each change waits for its ack, so the store holds a prefix of the
		// sequence, at most one change past the last ack (committed, killed
		// before it printed).
		if extra := len(ents) - len(acked); extra < 0 || extra > 1 {
			t.Errorf("round %d: %d stored for %d acked", round, len(ents), len(acked))
		}
		for i := 1; i <= len(ents); i++ {
			if !stored[domain.MakeTaxNo(tortureRegion, i)] {
				t.Errorf("round %d: change %d is missing while %d are stored", round, i, len(ents))
			}
		}
		closeStack(t, st)
		t.Logf("round %d: killed after %d acks (asked for %d); %d stored", round, len(got), k, len(ents))
		if t.Failed() {
			return
		}
	}
}

// killAfterAcks runs torture on dir until it has printed at least k acks,
// SIGKILLs it, and returns every ack it printed, those that raced the kill
// included.
func killAfterAcks(t *testing.T, dir string, k int) []string {
	t.Helper()
	var acks []string
	for _, line := range killAfterLines(t, dir, k) {
		tn, isAck := strings.CutPrefix(line, "ACK ")
		if !isAck {
			t.Errorf("unexpected output %q", line)
			continue
		}
		acks = append(acks, tn)
	}
	return acks
}

// killAfterLines runs torture on dir with args until it has printed at
// least k lines "ACK ...", SIGKILLs it, and returns every line it printed.
func killAfterLines(t *testing.T, dir string, k int, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := tortureCommand(t, ctx, append([]string{"--dev", "--data", dir, "--n", "1000000", "--log-level", "warn"}, args...)...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []string
	acks := 0
	killed := false
	sc := bufio.NewScanner(out)
	for sc.Scan() { // ends at EOF: the process died (or ctx killed it)
		lines = append(lines, sc.Text())
		if strings.HasPrefix(sc.Text(), "ACK ") {
			acks++
		}
		if acks >= k && !killed {
			if err := cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			killed = true
		}
	}
	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("torture timed out after %d acks; stderr:\n%s", acks, stderr)
	}
	if !killed || exitCode(err) != -1 {
		t.Fatalf("torture ended by itself (%v) after %d acks; stderr:\n%s", err, acks, stderr)
	}
	if strings.Contains(stderr.String(), "DATA RACE") {
		t.Errorf("the race detector fired in torture:\n%s", stderr)
	}
	return lines
}

// TestAcknowledgedTenantChangesSurviveSIGKILL extends the durability test
// to tenant-level changes (links, bindings, defaults, admins) made by
// concurrent commands on one tenant: torture with "--workers 4" runs four
// workers, each printing "DO <w> <op>" before a change and "ACK <w> <op>"
// after its acknowledgement. After each SIGKILL the stored state of every
// worker is exactly its acknowledged changes, or those plus the one change
// it had under way (committed, killed before it printed the ack).
func TestAcknowledgedTenantChangesSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a subprocess")
	}
	const workers = 4
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, seed>>1))
	t.Logf("seed %d", seed)

	model := make([]tortureState, workers) // what was acknowledged
	changes, landedUnacked := 0, 0
	const rounds = 5
	for round := 1; round <= rounds; round++ {
		k := 20 + rng.IntN(181)
		pending := make([]string, workers) // the change under way, "" for none
		for _, line := range killAfterLines(t, dir, k, "--workers", fmt.Sprint(workers)) {
			var kind, op string
			var w int
			if n, _ := fmt.Sscanf(line, "%s %d %s", &kind, &w, &op); n != 3 || w < 0 || w >= workers {
				t.Fatalf("round %d: unexpected output %q", round, line)
			}
			switch {
			case kind == "DO" && pending[w] == "":
				pending[w] = op
			case kind == "ACK" && pending[w] == op:
				model[w], pending[w] = model[w].apply(op), ""
				changes++
			default:
				t.Fatalf("round %d: %q out of order (worker %d has %q under way)", round, line, w, pending[w])
			}
		}

		st := openTestStack(t, dir, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for w := range workers {
			got, err := tortureObserve(ctx, st.engine, w)
			if err != nil {
				t.Fatalf("round %d: worker %d: %v", round, w, err)
			}
			switch {
			case got == model[w]:
			case pending[w] != "" && got == model[w].apply(pending[w]):
				model[w] = got // landed, unacknowledged: the store is the truth
				landedUnacked++
			default:
				t.Errorf("round %d: worker %d stored %+v, acknowledged %+v (under way: %q)", round, w, got, model[w], pending[w])
			}
		}
		cancel()
		closeStack(t, st)
		if t.Failed() {
			return
		}
	}
	t.Logf("%d trials, %d acknowledged tenant-level changes from %d concurrent workers, 0 lost; %d landed unacknowledged (killed between commit and ack)",
		rounds, changes, workers, landedUnacked)
}

// TestTortureBadFlagValue: torture refuses a bad flag value as a usage
// error, as every etaxd command does.
func TestTortureBadFlagValue(t *testing.T) {
	var out, errOut strings.Builder
	code := torture(context.Background(), []string{"--n", "x"}, &out, &errOut)
	if code != 2 {
		t.Errorf("exit code %d, want 2\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	if !strings.Contains(errOut.String(), "invalid value") {
		t.Errorf("stderr lacks %q:\n%s", "invalid value", errOut.String())
	}
}

// TestTortureVerify lists what a torture run stored.
func TestTortureVerify(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errOut strings.Builder
	if code := torture(ctx, []string{"--dev", "--data", dir, "--n", "3", "--log-level", "error"}, &out, &errOut); code != 0 {
		t.Fatalf("torture exit %d: %s", code, errOut.String())
	}
	var want []string
	for i := 1; i <= 3; i++ {
		want = append(want, "ACK "+domain.MakeTaxNo(tortureRegion, i))
	}
	if strings.TrimSpace(out.String()) != strings.Join(want, "\n") {
		t.Errorf("output %q, want %q", out.String(), want)
	}
	out.Reset()
	if code := torture(ctx, []string{"--data", dir, "--verify", "--log-level", "error"}, &out, &errOut); code != 0 {
		t.Fatalf("torture --verify exit %d: %s", code, errOut.String())
	}
	if got, wantHave := strings.TrimSpace(out.String()), strings.ReplaceAll(strings.Join(want, "\n"), "ACK", "HAVE"); got != wantHave {
		t.Errorf("verify printed %q, want %q", got, wantHave)
	}
	// A second run continues the sequence.
	out.Reset()
	if code := torture(ctx, []string{"--data", dir, "--n", "1", "--log-level", "error"}, &out, &errOut); code != 0 {
		t.Fatalf("torture exit %d: %s", code, errOut.String())
	}
	if got := strings.TrimSpace(out.String()); got != fmt.Sprintf("ACK %s", domain.MakeTaxNo(tortureRegion, 4)) {
		t.Errorf("second run printed %q", got)
	}
}
