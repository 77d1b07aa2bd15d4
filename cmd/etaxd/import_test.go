package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
)

// TestImportCommand runs "etaxd import accounts" against a real engine's
// ops API: invalid rows stop the import (exit 1, nothing written), a dry
// run writes nothing, --skip-invalid adds the good rows with a progress
// line and a 0600 report, and a re-run reports them as existing. No
// output and no report holds a password.
func TestImportCommand(t *testing.T) {
	clearEnv(t)
	url, st := startOpsServer(t)
	t.Setenv("ETAXD_OPERATOR_TOKEN", testOperatorToken)
	s := "--server=" + url
	cli(t, 0, "tenant", "create", s, "--name", "某某集团", "--id", "acme")

	const pw = "Imp0rt@secret"
	var b strings.Builder
	b.WriteString("tax_no,enterprise_name,username,password,business,role,login_type\n")
	for i := 0; i < 40; i++ {
		tn := domain.MakeTaxNo("11", 300+i%4)
		switch {
		case i%8 == 7:
			fmt.Fprintf(&b, "%s,企业%d,u%d,%s,issue,03,manual\n", tn, i%4, i, pw) // 办税员 cannot issue
		default:
			fmt.Fprintf(&b, "%s,企业%d,u%d,%s,both,09,manual\n", tn, i%4, i, pw)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "accounts.csv")
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(dir, "report.csv")
	accounts := func() int {
		as, err := st.engine.Accounts(context.Background(), "acme", "", "")
		if err != nil {
			t.Fatal(err)
		}
		return len(as)
	}
	var outputs []string

	out, errOut := cli(t, 1, "import", "accounts", file, s, "--tenant", "acme", "-o", report)
	outputs = append(outputs, out, errOut)
	if !strings.Contains(out, "nothing written: 5 invalid rows") || !strings.Contains(out, "row 9 (") ||
		!strings.Contains(out, "role_business_not_allowed") || accounts() != 0 {
		t.Fatalf("with invalid rows:\n%s", out)
	}
	out, errOut = cli(t, 0, "import", "accounts", file, s, "--tenant", "acme", "--dry-run", "--skip-invalid")
	outputs = append(outputs, out, errOut)
	if !strings.Contains(out, "dry run: nothing written (35 rows would be added)") || accounts() != 0 {
		t.Fatalf("dry run:\n%s", out)
	}
	out, errOut = cli(t, 0, "import", "accounts", file, s, "--tenant", "acme", "--skip-invalid", "-o", report)
	outputs = append(outputs, out, errOut)
	if !strings.Contains(out, "40 rows: 0 created, 35 awaiting first login, 0 exist, 5 invalid") ||
		!strings.Contains(errOut, "import: 40/40 rows") || accounts() != 35 {
		t.Fatalf("skip invalid:\nstdout %s\nstderr %s", out, errOut)
	}
	fi, err := os.Stat(report)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report: %v %v", fi, err)
	}
	rep, _ := os.ReadFile(report)
	rows, err := csv.NewReader(bytes.NewReader(rep)).ReadAll()
	if err != nil || len(rows) != 41 || rows[0][0] != "row" || rows[1][3] != "awaiting_login" || rows[8][3] != "invalid" || rows[8][4] != "role_business_not_allowed" {
		t.Fatalf("report (%v):\n%s", err, rep)
	}
	outputs = append(outputs, string(rep))
	out, errOut = cli(t, 0, "import", "accounts", file, s, "--tenant", "acme", "--skip-invalid")
	outputs = append(outputs, out, errOut)
	if !strings.Contains(out, "0 awaiting first login, 35 exist") || accounts() != 35 {
		t.Fatalf("re-run:\n%s", out)
	}
	for _, o := range outputs {
		if strings.Contains(o, pw) {
			t.Fatalf("a password in the output:\n%s", o)
		}
	}
	if _, errOut = cli(t, 2, "import", "accounts", filepath.Join(dir, "accounts.txt"), s, "--tenant", "acme"); !strings.Contains(errOut, ".csv or .xlsx") {
		t.Fatalf("bad extension: %s", errOut)
	}
	cli(t, 2, "import", "accounts", file, s)
}
