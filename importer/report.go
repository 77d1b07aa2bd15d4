package importer

import (
	"encoding/csv"
	"io"
	"strconv"
)

// ReportColumns are the columns of the CSV report, in order. The report
// holds no password: a row's result, the catalogue code and its Chinese
// message, and the new account's id.
var ReportColumns = []string{"row", "tax_no", "username", "result", "code", "message", "account_id"}

// ReportWriter writes the CSV report, one row at a time.
type ReportWriter struct{ w *csv.Writer }

// NewReportWriter writes the header to w and returns the writer.
func NewReportWriter(w io.Writer) (*ReportWriter, error) {
	rw := &ReportWriter{w: csv.NewWriter(w)}
	if err := rw.w.Write(ReportColumns); err != nil {
		return nil, err
	}
	return rw, nil
}

// Write writes one row's result.
func (rw *ReportWriter) Write(r RowResult) error {
	return rw.w.Write([]string{strconv.Itoa(r.Row), safeCell(r.TaxNo), safeCell(r.Username), string(r.Result), r.Code, r.Message, r.AccountID})
}

// Flush writes what is buffered and reports any error of the writes.
func (rw *ReportWriter) Flush() error {
	rw.w.Flush()
	return rw.w.Error()
}

// safeCell keeps a value that a spreadsheet would run as a formula (=, +,
// -, @ first) from being one: the report echoes the file's tax numbers and
// usernames, which anyone who made the file chose.
func safeCell(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
