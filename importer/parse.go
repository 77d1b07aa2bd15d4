package importer

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"

	"github.com/etaxd/etaxd/domain"
)

// The columns of an import file's header row. Names are matched without
// regard to case or surrounding spaces.
const (
	ColTaxNo          = "tax_no"
	ColEnterpriseName = "enterprise_name"
	ColRegion         = "region"
	ColUsername       = "username"
	ColPassword       = "password"
	ColBusiness       = "business"
	ColRole           = "role"
	ColLoginType      = "login_type"
	ColBoundOpenID    = "bound_openid"
)

// Columns lists every column in the documented order: the first five are
// required in the header, the others optional.
var Columns = []string{ColTaxNo, ColEnterpriseName, ColUsername, ColPassword, ColBusiness,
	ColRegion, ColRole, ColLoginType, ColBoundOpenID}

// requiredColumns must be in every header.
var requiredColumns = Columns[:5]

// Media types of the two formats.
const (
	MediaCSV  = "text/csv"
	MediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// Limits of one file. MaxBytes matches the HTTP server's body limit.
const (
	MaxBytes = 1 << 20
	MaxRows  = 5000
	maxCell  = 256
	// XLSX is a zip: its parts are bounded once unpacked, so a small
	// file cannot expand into gigabytes.
	maxUnzipped    = 64 << 20
	maxUnzippedXML = 16 << 20
)

// Record is one data row of a file as read: its position (the header is
// row 1) and its cells by column name.
type Record struct {
	Row   int
	cells map[string]string
}

// Get returns the cell of column col, trimmed ("" when the row is short).
func (r Record) Get(col string) string { return strings.TrimSpace(r.cells[col]) }

// raw returns the cell as written (the password's).
func (r Record) raw(col string) string { return r.cells[col] }

// Parse reads an import file of the given media type (MediaCSV or
// MediaXLSX; parameters such as charset are ignored). A file that cannot be
// read, lacks a required column, names an unknown one or holds more than
// MaxRows rows is ErrInvalidInput saying why; the message never quotes a
// cell.
func Parse(data []byte, mediaType string) ([]Record, error) {
	if len(data) > MaxBytes {
		return nil, domain.Invalid("file", fmt.Sprintf("文件不能超过%dKB，请分批导入", MaxBytes>>10))
	}
	mt, _, _ := strings.Cut(mediaType, ";")
	zip := bytes.HasPrefix(data, []byte("PK\x03\x04"))
	var rows [][]string
	var lines []int
	var err error
	switch strings.ToLower(strings.TrimSpace(mt)) {
	case MediaCSV:
		if zip {
			return nil, domain.Invalid("file", "内容是XLSX文件，请按XLSX类型上传")
		}
		rows, lines, err = readCSV(data)
	case MediaXLSX:
		if !zip {
			return nil, domain.Invalid("file", "不是有效的XLSX文件")
		}
		rows, err = readXLSX(data)
	default:
		return nil, domain.Invalid("file", "文件类型须为CSV（text/csv）或XLSX")
	}
	if err != nil {
		return nil, err
	}
	return records(rows, lines)
}

// readCSV returns the records and the line each starts on (encoding/csv
// skips empty lines; the report names the line an editor shows).
func readCSV(data []byte) ([][]string, []int, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	if !utf8.Valid(data) {
		return nil, nil, domain.Invalid("file", "CSV文件须为UTF-8编码（Excel中另存为“CSV UTF-8”）")
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	var rows [][]string
	var lines []int
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return rows, lines, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, nil, domain.ErrInvalidInput.With(fmt.Sprintf("CSV格式错误（第%d行）", pe.StartLine), "file: "+pe.Err.Error())
			}
			return nil, nil, domain.Invalid("file", "CSV格式错误")
		}
		if len(rows) > MaxRows {
			return nil, nil, tooManyRows()
		}
		line, _ := r.FieldPos(0)
		rows, lines = append(rows, rec), append(lines, line)
	}
}

func readXLSX(data []byte) ([][]string, error) {
	f, err := excelize.OpenReader(bytes.NewReader(data), excelize.Options{UnzipSizeLimit: maxUnzipped, UnzipXMLSizeLimit: maxUnzippedXML})
	if err != nil {
		return nil, domain.ErrInvalidInput.With("不是有效的XLSX文件", "file: "+err.Error())
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 {
		return nil, domain.Invalid("file", "XLSX文件没有工作表")
	}
	// The first sheet is read: a workbook's other sheets are often notes.
	it, err := f.Rows(sheets[0])
	if err != nil {
		return nil, domain.ErrInvalidInput.With("无法读取XLSX工作表", "file: "+err.Error())
	}
	defer it.Close()
	var rows [][]string
	for it.Next() {
		// Raw values: a password or username of digits must not come
		// back as "1.2E+10" or with a number format applied.
		cols, err := it.Columns(excelize.Options{RawCellValue: true})
		if err != nil {
			return nil, domain.ErrInvalidInput.With("无法读取XLSX工作表", "file: "+err.Error())
		}
		if len(rows) > MaxRows {
			return nil, tooManyRows()
		}
		rows = append(rows, cols)
	}
	if err := it.Error(); err != nil {
		return nil, domain.ErrInvalidInput.With("无法读取XLSX工作表", "file: "+err.Error())
	}
	return rows, nil
}

func tooManyRows() error {
	return domain.Invalid("file", fmt.Sprintf("一次最多导入%d行，请分批导入", MaxRows))
}

// records maps rows onto the header's columns; lines are the rows'
// positions (nil: one after another from 1).
func records(rows [][]string, lines []int) ([]Record, error) {
	hdr := -1
	for i, r := range rows {
		if !blank(r) {
			hdr = i
			break
		}
	}
	if hdr < 0 {
		return nil, domain.Invalid("file", "文件为空，第一行须为表头："+strings.Join(Columns, ","))
	}
	cols := make([]string, len(rows[hdr]))
	seen := map[string]bool{}
	for i, name := range rows[hdr] {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\ufeff")))
		if name == "" {
			continue
		}
		if !known(name) {
			// The name is not quoted: a file without its header row has a
			// data row here, and one of its cells is a password.
			return nil, domain.ErrInvalidInput.With(fmt.Sprintf("表头第%d列不是可用的列名（第一行须为表头，可用：%s）", i+1, strings.Join(Columns, ",")),
				fmt.Sprintf("file: unknown column %d", i+1))
		}
		if seen[name] {
			return nil, domain.ErrInvalidInput.With("表头中“"+name+"”列重复", "file: repeated column "+name)
		}
		seen[name], cols[i] = true, name
	}
	var missing []string
	for _, c := range requiredColumns {
		if !seen[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return nil, domain.ErrInvalidInput.With("表头缺少必填列："+strings.Join(missing, ","), "file: missing columns "+strings.Join(missing, ","))
	}
	var out []Record
	for i := hdr + 1; i < len(rows); i++ {
		if blank(rows[i]) {
			continue
		}
		if len(out) == MaxRows {
			return nil, tooManyRows()
		}
		row := i + 1
		if lines != nil {
			row = lines[i]
		}
		rec := Record{Row: row, cells: make(map[string]string, len(cols))}
		for j, v := range rows[i] {
			switch {
			case j >= len(cols) || cols[j] == "":
			case cols[j] == ColPassword:
				rec.cells[cols[j]] = v // as written: see validateRecord
			default:
				rec.cells[cols[j]] = strings.TrimSpace(v)
			}
		}
		out = append(out, rec)
	}
	if len(out) == 0 {
		return nil, domain.Invalid("file", "文件中没有数据行")
	}
	return out, nil
}

func known(name string) bool {
	for _, c := range Columns {
		if c == name {
			return true
		}
	}
	return false
}

func blank(r []string) bool {
	for _, v := range r {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}
