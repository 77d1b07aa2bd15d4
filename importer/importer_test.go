package importer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/xuri/excelize/v2"

	"github.com/etaxd/etaxd/domain"
)

var (
	bj = domain.MakeTaxNo("11", 1) // 北京
	gd = domain.MakeTaxNo("44", 2) // 广东
)

const header = "tax_no,enterprise_name,region,username,password,business,role,login_type,bound_openid\n"

// xlsxOf makes an XLSX file of rows with excelize, every cell a string.
func xlsxOf(t *testing.T, rows [][]string) []byte {
	t.Helper()
	f := excelize.NewFile()
	defer f.Close()
	for i, r := range rows {
		cells := make([]any, len(r))
		for j, v := range r {
			cells[j] = v
		}
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Sheet1", cell, &cells); err != nil {
			t.Fatal(err)
		}
	}
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func splitCSV(s string) [][]string {
	var out [][]string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Split(l, ","))
	}
	return out
}

// TestValidateRows checks one row at a time, as CSV and as XLSX: the
// catalogue code of its first fault, or none.
func TestValidateRows(t *testing.T) {
	badCheck := bj[:17] + string("0123456789ABCDEFGHJKLMNPQRTUWXY"[(strings.IndexByte("0123456789ABCDEFGHJKLMNPQRTUWXY", bj[17])+1)%31])
	for _, c := range []struct {
		name, row, want string
	}{
		{"manual", bj + ",北京甲,,zhang,Pass@2026x,both,01,manual,", ""},
		{"hosted without role", gd + ",广东乙,44,li,Pass@2026x,issue,,huameng,", ""},
		{"chinese names", bj + ",北京甲,北京市,zhang,Pass@2026x,receive,办税员,人工登录,", ""},
		{"check digit", badCheck + ",北京甲,,zhang,Pass@2026x,both,01,manual,", "invalid_tax_no"},
		{"empty tax number", ",北京甲,,zhang,Pass@2026x,both,01,manual,", "invalid_tax_no"},
		{"unknown region", bj + ",北京甲,火星,zhang,Pass@2026x,both,01,manual,", "invalid_region"},
		{"region against tax number", bj + ",北京甲,44,zhang,Pass@2026x,both,01,manual,", "invalid_region"},
		{"no name", bj + ",,,zhang,Pass@2026x,both,01,manual,", "invalid_input"},
		{"no username", bj + ",北京甲,,,Pass@2026x,both,01,manual,", "invalid_input"},
		{"no password", bj + ",北京甲,,zhang,,both,01,manual,", "invalid_input"},
		{"business", bj + ",北京甲,,zhang,Pass@2026x,sell,01,manual,", "invalid_business"},
		{"role", bj + ",北京甲,,zhang,Pass@2026x,both,42,manual,", "invalid_role"},
		{"role cannot issue", bj + ",北京甲,,zhang,Pass@2026x,issue,03,manual,", "role_business_not_allowed"},
		{"manual needs a role", bj + ",北京甲,,zhang,Pass@2026x,both,,manual,", "invalid_role"},
		{"login type", bj + ",北京甲,,zhang,Pass@2026x,both,01,carrier-pigeon,", "invalid_login_type"},
		{"withdrawn login type", bj + ",北京甲,,zhang,Pass@2026x,both,01,fapiaoyun_app,", "login_type_withdrawn"},
		{"openid", bj + ",北京甲,,zhang,Pass@2026x,both,01,manual,o x", "invalid_input"},
	} {
		for _, format := range []string{MediaCSV, MediaXLSX} {
			data := []byte(header + c.row + "\n")
			if format == MediaXLSX {
				data = xlsxOf(t, splitCSV(header+c.row))
			}
			recs, err := Parse(data, format)
			if err != nil {
				t.Fatalf("%s (%s): parse: %v", c.name, format, err)
			}
			rows, bad := Validate(recs)
			got := ""
			if len(bad) > 0 {
				got = bad[0].Err.Code
				if bad[0].Row != 2 || bad[0].Err.Message == "" {
					t.Errorf("%s (%s): problem %+v", c.name, format, bad[0])
				}
			} else if len(rows) != 1 {
				t.Fatalf("%s (%s): %d rows", c.name, format, len(rows))
			}
			if got != c.want {
				t.Errorf("%s (%s): code %q, want %q", c.name, format, got, c.want)
			}
		}
	}
}

// TestValidateAcrossRows: duplicates and contradictions within a file are
// refused on the later row; blank rows are skipped, row numbers kept.
func TestValidateAcrossRows(t *testing.T) {
	file := header +
		bj + ",北京甲,,zhang,Pass@2026x,both,01,manual,\n" +
		"\n" +
		bj + ",北京甲,,li,Pass@2026x,receive,03,manual,\n" +
		strings.ToLower(bj) + ",北京甲,,zhang,Other@2026x,both,01,manual,\n" +
		bj + ",北京乙,,wang,Pass@2026x,both,01,manual,\n"
	recs, err := Parse([]byte("\ufeff"+file), "text/csv; charset=utf-8")
	if err != nil {
		t.Fatal(err)
	}
	rows, bad := Validate(recs)
	if len(rows) != 2 || rows[0].Row != 2 || rows[1].Row != 4 {
		t.Fatalf("rows = %+v", rows)
	}
	if len(bad) != 2 || bad[0].Row != 5 || !strings.Contains(bad[0].Err.Message, "第2行") || bad[1].Row != 6 {
		t.Fatalf("problems = %+v", bad)
	}
	if rows[0].Region != "11" || rows[0].Password.Reveal() != "Pass@2026x" {
		t.Fatalf("row = %+v", rows[0])
	}
}

// TestParseRefusals: files that are no import file at all.
func TestParseRefusals(t *testing.T) {
	row := bj + ",北京甲,,zhang,Pass@2026x,both,01,manual,\n"
	for _, c := range []struct {
		name, media string
		data        []byte
		wantMsg     string
	}{
		{"no header", MediaCSV, []byte(row + row), "第一行须为表头"},
		{"missing column", MediaCSV, []byte("tax_no,enterprise_name,username,business\n" + row), "password"},
		{"repeated column", MediaCSV, []byte("tax_no,tax_no,enterprise_name,username,password,business\n"), "重复"},
		{"only a header", MediaCSV, []byte(header), "没有数据行"},
		{"empty", MediaCSV, nil, "文件为空"},
		{"GBK", MediaCSV, []byte(header + bj + ",\xb1\xb1\xbe\xa9,,zhang,Pass@2026x,both,01,manual,\n"), "UTF-8"},
		{"bad quotes", MediaCSV, []byte(header + `"a"b,c` + "\n"), "CSV格式错误"},
		{"xlsx sent as csv", MediaCSV, xlsxOf(t, splitCSV(header+row)), "XLSX"},
		{"csv sent as xlsx", MediaXLSX, []byte(header + row), "XLSX"},
		{"broken xlsx", MediaXLSX, []byte("PK\x03\x04 not a zip"), "XLSX"},
		{"json", "application/json", []byte(`{}`), "CSV"},
		{"too large", MediaCSV, bytes.Repeat([]byte("x"), MaxBytes+1), "分批"},
		{"too many rows", MediaCSV, []byte(header + strings.Repeat(row, MaxRows+1)), "分批"},
	} {
		_, err := Parse(c.data, c.media)
		var e *domain.Error
		if !errors.As(err, &e) || e.Code != "invalid_input" || !strings.Contains(e.Message, c.wantMsg) {
			t.Errorf("%s: error = %v, want invalid_input saying %q", c.name, err, c.wantMsg)
		}
		if err != nil && strings.Contains(err.Error()+e.Message, "Pass@2026x") {
			t.Errorf("%s: the error quotes the password", c.name)
		}
	}
}

// TestXLSXRawValues: a username or password of digits comes back as
// written, not number-formatted; an empty row keeps the rows' numbers.
func TestXLSXRawValues(t *testing.T) {
	f := excelize.NewFile()
	defer f.Close()
	_ = f.SetSheetRow("Sheet1", "A1", &[]any{"tax_no", "enterprise_name", "username", "password", "business", "role"})
	_ = f.SetSheetRow("Sheet1", "A2", &[]any{bj, "北京甲", 13800000000, 123456789012, "both", "01"})
	_ = f.SetSheetRow("Sheet1", "A4", &[]any{bj, "北京甲", "wu", "Pass@2026x", "both", "09"}) // row 3 left empty
	var b bytes.Buffer
	if err := f.Write(&b); err != nil {
		t.Fatal(err)
	}
	recs, err := Parse(b.Bytes(), MediaXLSX)
	if err != nil {
		t.Fatal(err)
	}
	rows, bad := Validate(recs)
	if len(bad) != 0 || len(rows) != 2 || rows[0].Username != "13800000000" || rows[0].Password.Reveal() != "123456789012" || rows[1].Row != 4 {
		t.Fatalf("rows %+v, problems %+v", rows, bad)
	}
}

// fakeTarget records what Run writes; fail makes a username's add fail.
type fakeTarget struct {
	mu          sync.Mutex
	accounts    map[AccountKey]string
	enterprises map[string]bool
	linked      map[string]bool
	bound       map[string]string
	fail        map[string]error
	entAdds     int
}

func newFake() *fakeTarget {
	return &fakeTarget{accounts: map[AccountKey]string{}, enterprises: map[string]bool{}, linked: map[string]bool{"o_1": true},
		bound: map[string]string{}, fail: map[string]error{}}
}

func (f *fakeTarget) Existing(context.Context) (map[AccountKey]bool, map[string]bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, e := map[AccountKey]bool{}, map[string]bool{}
	for k := range f.accounts {
		a[k] = true
	}
	for k := range f.enterprises {
		e[k] = true
	}
	return a, e, nil
}

func (f *fakeTarget) Linked(_ context.Context, openid string) (bool, error) {
	return f.linked[openid], nil
}

func (f *fakeTarget) AddEnterprise(_ context.Context, taxNo, _, _ string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.enterprises[taxNo] {
		return domain.ErrEnterpriseExists
	}
	f.enterprises[taxNo] = true
	f.entAdds++
	return nil
}

func (f *fakeTarget) add(r Row) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[r.Username]; err != nil {
		return "", err
	}
	if !f.enterprises[r.TaxNo] {
		return "", domain.ErrEnterpriseNotFound
	}
	k := AccountKey{r.TaxNo, r.Username}
	if f.accounts[k] != "" {
		return "", domain.ErrAccountExists
	}
	f.accounts[k] = fmt.Sprintf("a%d", len(f.accounts)+1)
	return f.accounts[k], nil
}

func (f *fakeTarget) AddHosted(_ context.Context, r Row) (string, error) { return f.add(r) }
func (f *fakeTarget) AddManual(_ context.Context, r Row) (string, error) { return f.add(r) }
func (f *fakeTarget) Bind(_ context.Context, id, openid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.bound[id] = openid
	return nil
}

func plan(t *testing.T, target Target, file string) *Plan {
	t.Helper()
	recs, err := Parse([]byte(file), MediaCSV)
	if err != nil {
		t.Fatal(err)
	}
	rows, bad := Validate(recs)
	p, err := MakePlan(context.Background(), target, rows, bad)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, target Target, file string, o Options) ([]RowResult, Summary) {
	t.Helper()
	var out []RowResult
	s, err := Run(context.Background(), target, plan(t, target, file), o, func(r RowResult) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, s
}

// TestRunWritesOnlyAllGood: with a bad row nothing is written unless
// SkipInvalid; a dry run writes nothing; a re-run finds everything; results
// come in file order.
func TestRunWritesOnlyAllGood(t *testing.T) {
	file := header +
		bj + ",北京甲,,zhang,Pass@2026x,both,01,manual,o_1\n" +
		bj + ",北京甲,,li,Pass@2026x,issue,,huameng,\n" +
		gd + ",广东乙,,zhao,Pass@2026x,issue,03,manual,\n" + // 办税员 cannot issue
		gd + ",广东乙,,qian,Pass@2026x,receive,03,manual,o_stranger\n" + // not linked
		gd + ",广东乙,,sun,Pass@2026x,receive,03,manual,\n"
	f := newFake()
	res, s := run(t, f, file, Options{})
	if s.Written || s.Invalid != 2 || s.Skipped != 3 || len(f.accounts) != 0 || len(f.enterprises) != 0 {
		t.Fatalf("with bad rows: %+v, wrote %d", s, len(f.accounts))
	}
	for i, r := range res {
		if r.Row != i+2 {
			t.Fatalf("results out of order: %+v", res)
		}
	}
	if res[2].Code != "role_business_not_allowed" || res[3].Code != "tenant_not_linked" || res[3].Message == "" {
		t.Fatalf("results = %+v", res)
	}
	if _, s = run(t, f, file, Options{DryRun: true, SkipInvalid: true}); s.Written || s.Valid != 3 || len(f.accounts) != 0 {
		t.Fatalf("dry run: %+v", s)
	}
	res, s = run(t, f, file, Options{SkipInvalid: true, Parallel: 3})
	if !s.Written || s.Created != 1 || s.AwaitingLogin != 2 || s.Invalid != 2 || len(f.accounts) != 3 || f.entAdds != 2 {
		t.Fatalf("skip invalid: %+v, accounts %v, enterprise adds %d", s, f.accounts, f.entAdds)
	}
	if res[0].Result != ResultAwaitingLogin || res[1].Result != ResultCreated || f.bound[res[0].AccountID] != "o_1" {
		t.Fatalf("results = %+v, bound %v", res, f.bound)
	}
	before := len(f.accounts)
	_, s = run(t, f, file, Options{SkipInvalid: true})
	if s.Exists != 3 || s.Created+s.AwaitingLogin != 0 || len(f.accounts) != before {
		t.Fatalf("re-run: %+v", s)
	}
}

// TestRunReportsFailures: a refused write is that row's failure with the
// catalogue's code; the other rows go on.
func TestRunReportsFailures(t *testing.T) {
	f := newFake()
	f.fail["li"] = domain.ErrWrongPassword
	res, s := run(t, f, header+bj+",北京甲,,zhang,Pass@2026x,both,01,manual,\n"+bj+",北京甲,,li,Pass@2026x,both,,qixiangyun,\n", Options{})
	if s.Failed != 1 || s.AwaitingLogin != 1 || res[1].Code != "wrong_password" || res[1].Message != domain.ErrWrongPassword.Message {
		t.Fatalf("%+v %+v", s, res)
	}
}

// TestReportHasNoPassword: the CSV report quotes results, never a
// password, and defuses formulas.
func TestReportHasNoPassword(t *testing.T) {
	f := newFake()
	res, _ := run(t, f, header+bj+",北京甲,,=cmd,Secret@2026x,both,01,manual,\n"+bj+",北京甲,,x,Secret@2026x,both,42,manual,\n", Options{SkipInvalid: true})
	var b bytes.Buffer
	rw, err := NewReportWriter(&b)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		_ = rw.Write(r)
	}
	if err := rw.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "Secret@2026x") || !strings.HasPrefix(out, "row,tax_no,username,result,code,message,account_id\n") ||
		!strings.Contains(out, ",'=cmd,awaiting_login,") || !strings.Contains(out, ",invalid,invalid_role,") {
		t.Fatalf("report:\n%s", out)
	}
}
