package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/etaxd/etaxd/http/opsapi"
	"github.com/etaxd/etaxd/importer"
)

const importUsage = `Usage: etaxd import accounts FILE --tenant ID [--dry-run] [--skip-invalid] [-o REPORT.csv]

Adds enterprises and their tax-bureau accounts in bulk from a CSV (UTF-8) or
XLSX file with a header row (docs/IMPORT.md). "etaxd import accounts -h"
lists the flags.
`

// importTimeout bounds an import: hosted accounts wait for their SMS code
// at the bureau, a few at a time.
const importTimeout = 30 * time.Minute

// importCmd is "etaxd import accounts".
func importCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return nounCommand("import", importUsage, args, stdout, stderr, map[string]func([]string) int{
		"accounts": func(args []string) int {
			var dryRun, skip bool
			var out, media string
			var data []byte
			code := exitOK
			rc := opsCommand{
				name: "import accounts", argsUsage: " FILE", minArgs: 1, maxArgs: 1, tenant: true,
				summary: "Add enterprises and accounts from FILE (.csv in UTF-8, or .xlsx) through the ops API.\n" +
					"Every row is checked before anything is written; with an invalid row nothing is written\n" +
					"unless --skip-invalid. Hosted login types are verified at once; manual ones wait for their\n" +
					"first login. A re-run reports what exists and changes nothing. Exit 0 when every row to\n" +
					"write was written, 1 when a row failed or invalid rows stopped the import.",
				flags: func(fs *flag.FlagSet, _ *clientFlags) {
					_ = fs.Set("timeout", importTimeout.String())
					fs.Lookup("timeout").DefValue = importTimeout.String()
					fs.BoolVar(&dryRun, "dry-run", false, "check every row and report; write nothing")
					fs.BoolVar(&skip, "skip-invalid", false, "write the good rows even when some rows are invalid")
					fs.StringVar(&out, "o", "", "write the per-row report to `FILE` (CSV, mode 0600; never a password)")
				},
				check: func(pos []string) int {
					var err error
					if media, err = mediaOf(pos[0]); err != nil {
						return usageError(stderr, "import accounts", "%v", err)
					}
					if data, err = os.ReadFile(pos[0]); err != nil {
						return failure(stderr, "import accounts", err)
					}
					if len(data) > importer.MaxBytes {
						return failure(stderr, "import accounts", fmt.Errorf("%s has %d bytes; at most %d in one import: split it", pos[0], len(data), importer.MaxBytes))
					}
					return exitOK
				},
				run: func(ctx context.Context, c *client, a opsArgs) error {
					q := url.Values{}
					if dryRun {
						q.Set("dry_run", "true")
					}
					if skip {
						q.Set("skip_invalid", "true")
					}
					path := a.tenantPath("/import")
					if len(q) > 0 {
						path += "?" + q.Encode()
					}
					sum, results, err := c.importFile(ctx, path, media, data, newProgress(stderr, rowCount(data, media)))
					if err != nil {
						return err
					}
					if out != "" {
						var b bytes.Buffer
						rw, _ := importer.NewReportWriter(&b)
						for _, r := range results {
							_ = rw.Write(r)
						}
						if err := rw.Flush(); err != nil {
							return err
						}
						if err := writeFileAtomic(out, b.Bytes()); err != nil {
							return err
						}
					}
					printImport(stdout, sum, results, out)
					if sum.Failed > 0 || (sum.Invalid > 0 && !skip) {
						code = exitError
					}
					return nil
				},
			}.exec(ctx, args, stderr)
			if rc != exitOK {
				return rc
			}
			return code
		},
	})
}

// mediaOf names the media type of an import file by its extension.
func mediaOf(name string) (string, error) {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".csv":
		return importer.MediaCSV, nil
	case ".xlsx":
		return importer.MediaXLSX, nil
	}
	return "", fmt.Errorf("FILE must end in .csv or .xlsx, got %q", filepath.Base(name))
}

// rowCount counts the file's data rows for the progress line; 0 when the
// file does not parse (etaxd will say why).
func rowCount(data []byte, media string) int {
	recs, err := importer.Parse(data, media)
	if err != nil {
		return 0
	}
	return len(recs)
}

// importFile posts the file and reads the streamed answer (200, or 422 when
// invalid rows stopped the import), calling progress after each row.
func (c *client) importFile(ctx context.Context, path, media string, data []byte, progress func(importer.Summary)) (importer.Summary, []importer.RowResult, error) {
	var sum importer.Summary
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(data))
	if err != nil {
		return sum, nil, err
	}
	req.Header.Set("Content-Type", media)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return sum, nil, fmt.Errorf("POST %s: %w (is etaxd running there? see --server)", req.URL.Redacted(), unwrapURLError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusUnprocessableEntity {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return sum, nil, errorOf(resp.StatusCode, b)
	}
	var results []importer.RowResult
	var running importer.Summary
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	done := false
	for sc.Scan() {
		var l opsapi.ImportLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return sum, nil, fmt.Errorf("unexpected answer line (%v): %.200s", err, sc.Bytes())
		}
		if l.Summary != nil {
			sum, done = *l.Summary, true
			continue
		}
		results = append(results, l.RowResult)
		running.Add(l.Result)
		progress(running)
	}
	if err := sc.Err(); err != nil {
		return sum, nil, fmt.Errorf("read the answer: %w", err)
	}
	if !done {
		return sum, nil, fmt.Errorf("the answer ended after %d rows without its summary; run the import again: it picks up where it stopped", len(results))
	}
	progress(sum)
	return sum, results, nil
}

// newProgress returns the progress line's writer: one line redrawn in place
// on a terminal, a line at each tenth of the rows elsewhere.
func newProgress(w io.Writer, total int) func(importer.Summary) {
	tty := false
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	step := max(total/10, 1)
	last := 0
	return func(s importer.Summary) {
		of := "?"
		if total > 0 {
			of = fmt.Sprint(total)
		}
		line := fmt.Sprintf("import: %d/%s rows (created %d, awaiting login %d, exists %d, invalid %d, failed %d)",
			s.Rows, of, s.Created, s.AwaitingLogin, s.Exists, s.Invalid, s.Failed)
		switch {
		case tty:
			fmt.Fprintf(w, "\r\033[K%s", line)
			if s.Rows == total {
				fmt.Fprintln(w)
			}
		case s.Rows-last >= step || s.Rows == total && last != total:
			last = s.Rows
			fmt.Fprintln(w, line)
		}
	}
}

// printImport prints the rows that need attention and the summary.
func printImport(w io.Writer, s importer.Summary, results []importer.RowResult, report string) {
	for _, r := range results {
		if r.Result == importer.ResultInvalid || r.Result == importer.ResultFailed || r.Code != "" {
			fmt.Fprintf(w, "row %d (%s %s): %s %s %s\n", r.Row, r.TaxNo, r.Username, r.Result, r.Code, r.Message)
		}
	}
	fmt.Fprintf(w, "%d rows: %d created, %d awaiting first login, %d exist, %d invalid, %d failed, %d skipped\n",
		s.Rows, s.Created, s.AwaitingLogin, s.Exists, s.Invalid, s.Failed, s.Skipped)
	switch {
	case s.DryRun:
		fmt.Fprintf(w, "dry run: nothing written (%d rows would be added)\n", s.Valid)
	case !s.Written:
		fmt.Fprintf(w, "nothing written: %d invalid rows; correct them, or pass --skip-invalid to add the good rows\n", s.Invalid)
	}
	if report != "" {
		fmt.Fprintf(w, "report: %s\n", report)
	}
}
