package opsapi

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/xuri/excelize/v2"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/importer"
	"github.com/etaxd/etaxd/taxbureau"
)

// pwMark is in every password of the import tests: no answer, report or
// log may contain it.
const pwMark = "Sekr3t"

// importApp mounts the ops API, provisioning and the import route as etaxd
// does, logging into logs.
func importApp(eng *actors.Engine, logs io.Writer) *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true, BodyLimit: 4 << 20})
	app.Use(requestid.New())
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	Register(app.Group("/ops"), eng, WithLogger(log))
	RegisterProvisioning(app.Group("/ops"), eng, WithLogger(log))
	RegisterImport(app.Group("/ops"), eng, WithLogger(log))
	return app
}

// postFile posts an import file and returns the answer.
func postFile(t *testing.T, app *fiber.App, query, media string, body []byte) response {
	t.Helper()
	req := httptest.NewRequest("POST", "/ops/v1/tenants/acme/import"+query, bytes.NewReader(body))
	req.Header.Set("Content-Type", media)
	return send(t, app, req)
}

// lines decodes an NDJSON answer: the rows' results and the summary.
func lines(t *testing.T, r response) ([]importer.RowResult, importer.Summary) {
	t.Helper()
	var out []importer.RowResult
	var sum *importer.Summary
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	for sc.Scan() {
		var l ImportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if l.Summary != nil {
			sum = l.Summary
			continue
		}
		out = append(out, l.RowResult)
	}
	if sum == nil {
		t.Fatalf("no summary in %d lines (status %d): %.300s", len(out), r.status, r.body)
	}
	return out, *sum
}

// mixedFile is a 1,000-row import: good manual rows, good hosted rows
// (whose persons the simulator knows, in a region with and one without
// an SMS step), a hosted row with a wrong password, and bad rows of every
// kind. It returns the CSV and how many rows are bad and hosted.
func mixedFile(t *testing.T, sim *taxbureau.Simulator) (file []byte, bad, hosted int) {
	t.Helper()
	var b strings.Builder
	b.WriteString("tax_no,enterprise_name,region,username,password,business,role,login_type,bound_openid\n")
	row := func(cells ...string) { b.WriteString(strings.Join(cells, ",") + "\n") }
	ent := func(i int) (string, string, string) {
		region := []string{"11", "44"}[i%2]
		return domain.MakeTaxNo(region, 100+i), fmt.Sprintf("企业%03d", i), region
	}
	badKinds := []func(n int){
		func(n int) { // check digit
			tn, name, _ := ent(0)
			row(tn[:17]+map[bool]string{true: "1", false: "2"}[tn[17] != '1'], name, "", fmt.Sprintf("bad%d", n), pwMark+"@1a", "both", "01", "manual", "")
		},
		func(n int) {
			tn, name, _ := ent(0)
			row(tn, name, "44", fmt.Sprintf("bad%d", n), pwMark+"@1a", "both", "01", "manual", "")
		}, // region
		func(n int) {
			tn, name, r := ent(1)
			row(tn, name, r, fmt.Sprintf("bad%d", n), pwMark+"@1a", "issue", "03", "manual", "")
		}, // role ≠ business
		func(n int) {
			tn, name, r := ent(1)
			row(tn, name, r, fmt.Sprintf("bad%d", n), pwMark+"@1a", "both", "01", "pigeon", "")
		}, // login type
		func(n int) {
			tn, name, r := ent(2)
			row(tn, name, r, fmt.Sprintf("bad%d", n), "", "both", "01", "manual", "")
		}, // no password
		func(n int) { tn, name, r := ent(0); row(tn, name, r, "m0", pwMark+"@1a", "both", "01", "manual", "") }, // duplicate of a good row
		func(n int) {
			tn, name, r := ent(3)
			row(tn, name, r, fmt.Sprintf("bad%d", n), pwMark+"@1a", "both", "01", "manual", "o_nobody")
		}, // not linked
	}
	for i := 0; i < 1000; i++ {
		switch {
		case i%10 == 9: // 100 bad rows
			badKinds[bad%len(badKinds)](bad)
			bad++
		case i%10 == 4 && hosted < 60: // hosted rows, each its own person
			tn, name, r := ent(i % 20)
			user, pw := fmt.Sprintf("h%d", i), fmt.Sprintf("%s@%04d", pwMark, i)
			if err := sim.AddPerson(taxbureau.Person{Name: user, Username: user, Phone: fmt.Sprintf("139%08d", i), Password: pw,
				Relations: []taxbureau.Relation{{TaxNo: tn, Region: r, Role: domain.RoleInvoicer}}}); err != nil {
				t.Fatal(err)
			}
			row(tn, name, "", user, pw, "issue", "", []string{"huameng", "qixiangyun"}[hosted%2], "")
			hosted++
		case i == 5: // hosted, but the bureau refuses the password
			tn, name, r := ent(7)
			if err := sim.AddPerson(taxbureau.Person{Name: "wrongpw", Username: "wrongpw", Phone: "13700000005", Password: pwMark + "@right",
				Relations: []taxbureau.Relation{{TaxNo: tn, Region: r, Role: domain.RoleInvoicer}}}); err != nil {
				t.Fatal(err)
			}
			row(tn, name, "", "wrongpw", pwMark+"@wrong", "issue", "09", "huameng", "")
		default:
			tn, name, r := ent(i % 20)
			openid := ""
			if i%3 == 0 {
				openid = "o_ops"
			}
			row(tn, name, r, fmt.Sprintf("m%d", i), fmt.Sprintf("%s#%04d", pwMark, i), "both", "09", "manual", openid)
		}
	}
	return []byte(b.String()), bad, hosted
}

// TestImportThousandRows sends a 1,000-row file that mixes good and bad
// rows through the ops API to a real engine and simulator: with bad rows
// nothing is written; a dry run writes nothing; with skip_invalid the good
// rows are written (hosted ones verified, manual ones awaiting their first
// login, bound where asked); a re-run changes nothing. No answer and no
// log holds a password.
func TestImportThousandRows(t *testing.T) {
	s := startStack(t)
	eng, sim, logs := s.Engine, s.Sim, s.Logs
	app := importApp(eng, logs)
	r := do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`)
	var ten Tenant
	r.json(t, &ten)
	if r = do(t, app, "POST", "/ops/v1/tenants/acme/links", `{"openid":"o_ops","activation_code":"`+ten.ActivationCode+`"}`); r.status != 200 {
		t.Fatalf("link = %d %s", r.status, r.body)
	}
	file, bad, hosted := mixedFile(t, sim)
	var bodies [][]byte

	r = postFile(t, app, "", "text/csv", file)
	bodies = append(bodies, r.body)
	res, sum := lines(t, r)
	if r.status != 422 || sum.Rows != 1000 || sum.Invalid != bad || sum.Skipped != 1000-bad || sum.Written || len(res) != 1000 {
		t.Fatalf("with bad rows: %d %+v", r.status, sum)
	}
	codes := map[string]int{}
	for i, x := range res {
		if x.Row != i+2 {
			t.Fatalf("row %d reported as %d", i+2, x.Row)
		}
		if x.Result == importer.ResultInvalid {
			if x.Code == "" || x.Message == "" {
				t.Fatalf("bad row without code: %+v", x)
			}
			codes[x.Code]++
		}
	}
	for _, c := range []string{"invalid_tax_no", "invalid_region", "role_business_not_allowed", "invalid_login_type", "invalid_input", "tenant_not_linked"} {
		if codes[c] == 0 {
			t.Errorf("no row reported %s: %v", c, codes)
		}
	}
	if es, _ := eng.Enterprises(t.Context(), "acme", ""); len(es) != 0 {
		t.Fatalf("%d enterprises written with bad rows in the file", len(es))
	}

	r = postFile(t, app, "?dry_run=true&skip_invalid=true", "text/csv", file)
	bodies = append(bodies, r.body)
	if _, sum = lines(t, r); r.status != 200 || sum.Valid != 1000-bad || sum.Written {
		t.Fatalf("dry run: %d %+v", r.status, sum)
	}
	if as, _ := eng.Accounts(t.Context(), "acme", "", ""); len(as) != 0 {
		t.Fatalf("dry run wrote %d accounts", len(as))
	}

	r = postFile(t, app, "?skip_invalid=1", "text/csv; charset=utf-8", file)
	bodies = append(bodies, r.body)
	res, sum = lines(t, r)
	manual := 1000 - bad - hosted - 1
	if r.status != 200 || !sum.Written || sum.Created != hosted || sum.AwaitingLogin != manual || sum.Failed != 1 || sum.Invalid != bad {
		t.Fatalf("skip invalid: %d %+v", r.status, sum)
	}
	if x := res[5]; x.Username != "wrongpw" || x.Result != importer.ResultFailed || x.Code != "wrong_password" {
		t.Fatalf("wrong password row = %+v", x)
	}
	as, err := eng.Accounts(t.Context(), "acme", "", "")
	if err != nil || len(as) != hosted+manual {
		t.Fatalf("accounts = %d, %v; want %d", len(as), err, hosted+manual)
	}
	bound := 0
	for _, a := range as {
		if a.BoundOpenID == "o_ops" {
			bound++
		}
		if a.LoginType == domain.LoginManual && a.Channels[domain.ChannelIssue].State != domain.StateLoggedOut {
			t.Fatalf("manual account %s logged in without its code", a.Username)
		}
	}
	if bound == 0 || bound != strings.Count(string(file), ",o_ops\n") {
		t.Fatalf("bound %d accounts", bound)
	}

	r = postFile(t, app, "?skip_invalid=true", "text/csv", file)
	bodies = append(bodies, r.body)
	if _, sum = lines(t, r); sum.Exists != hosted+manual || sum.Created+sum.AwaitingLogin != 0 {
		t.Fatalf("re-run: %+v", sum)
	}
	if as2, _ := eng.Accounts(t.Context(), "acme", "", ""); len(as2) != len(as) {
		t.Fatalf("re-run changed the accounts: %d → %d", len(as), len(as2))
	}
	for i, b := range append(bodies, []byte(logs.String())) {
		if bytes.Contains(b, []byte(pwMark)) {
			t.Fatalf("answer %d (or the logs) holds a password", i)
		}
	}
	if !strings.Contains(logs.String(), "import done") {
		t.Fatal("no log line of the import")
	}
}

// TestImportXLSXAndCSVReport: an XLSX file, answered as the CSV report.
func TestImportXLSXAndCSVReport(t *testing.T) {
	eng := startEngine(t)
	app := importApp(eng, io.Discard)
	do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`)
	f := excelize.NewFile()
	defer f.Close()
	tn := domain.MakeTaxNo("11", 9)
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"tax_no", "enterprise_name", "username", "password", "business", "role"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{tn, "北京九号", "zhang", pwMark + "@9x", "both", "01"})
	_ = f.SetSheetRow("Sheet1", "A3", &[]any{tn, "北京九号", "li", pwMark + "@9x", "issue", "03"})
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	r := postFile(t, app, "?format=csv&skip_invalid=true", importer.MediaXLSX, b.Bytes())
	rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil || r.status != 200 || r.header.Get("Content-Type") != "text/csv; charset=utf-8" || len(rows) != 3 {
		t.Fatalf("%d %v %s", r.status, err, r.body)
	}
	if strings.Join(rows[0], ",") != "row,tax_no,username,result,code,message,account_id" ||
		rows[1][3] != "awaiting_login" || rows[1][6] == "" || rows[2][3] != "invalid" || rows[2][4] != "role_business_not_allowed" {
		t.Fatalf("report = %v", rows)
	}
	if bytes.Contains(r.body, []byte(pwMark)) {
		t.Fatal("the report holds a password")
	}
}

// TestImportRefusals: whole-file problems are one catalogue error, before
// anything is read into the engine.
func TestImportRefusals(t *testing.T) {
	eng := startEngine(t)
	app := importApp(eng, io.Discard)
	do(t, app, "POST", "/ops/v1/tenants", `{"id":"acme","name":"Acme"}`)
	hdr := "tax_no,enterprise_name,username,password,business,role\n"
	for _, c := range []struct {
		name, query, media, body, code string
		status                         int
	}{
		{"json", "", "application/json", `{}`, "invalid_input", 400},
		{"no header", "", "text/csv", domain.MakeTaxNo("11", 1) + ",x,u," + pwMark + "@1,both,01\n", "invalid_input", 400},
		{"too large", "", "text/csv", hdr + strings.Repeat("x", importer.MaxBytes), "invalid_input", 400},
		{"bad flag", "?dry_run=perhaps", "text/csv", hdr, "invalid_input", 400},
		{"bad format", "?format=xml", "text/csv", hdr, "invalid_input", 400},
	} {
		r := postFile(t, app, c.query, c.media, []byte(c.body))
		if r.status != c.status || r.errorCode(t) != c.code || bytes.Contains(r.body, []byte(pwMark)) {
			t.Errorf("%s: %d %s", c.name, r.status, r.body)
		}
	}
	req := httptest.NewRequest("POST", "/ops/v1/tenants/nobody/import", strings.NewReader(hdr))
	req.Header.Set("Content-Type", "text/csv")
	if resp, err := app.Test(req, -1); err != nil || resp.StatusCode != 404 {
		t.Fatalf("unknown tenant: %v %v", resp, err)
	}
}
