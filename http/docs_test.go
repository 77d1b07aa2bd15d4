package httpapi

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/etaxd/etaxd/domain"
)

func readDoc(t *testing.T, name string) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "docs", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDocsMatchCode: every route is in docs/openapi.yaml with its methods,
// and every error code is in the table of docs/API.md with its status.
func TestDocsMatchCode(t *testing.T) {
	spec := readDoc(t, "openapi.yaml")
	app := New(Deps{DevInbox: nil})
	param := regexp.MustCompile(`:[a-z]+`)
	for _, r := range app.GetRoutes(true) {
		if r.Method == "HEAD" || r.Path == "/" {
			continue
		}
		path := param.ReplaceAllString(r.Path, `\{[a-z_]+\}`)
		block := regexp.MustCompile(`(?m)^  ` + path + `:\n((?:    .*\n|\n)*)`).FindStringSubmatch(spec)
		if block == nil {
			t.Errorf("openapi.yaml lacks %s", r.Path)
			continue
		}
		if !strings.Contains(block[1], "    "+strings.ToLower(r.Method)+":") {
			t.Errorf("openapi.yaml lacks %s %s", r.Method, r.Path)
		}
	}
	if !strings.Contains(spec, "  /dev/inbox:") {
		t.Error("openapi.yaml lacks /dev/inbox")
	}

	doc := readDoc(t, "API.md")
	row := regexp.MustCompile("(?m)^\\| (\\d{3}) \\| `([a-z_]+)` \\|")
	inDoc := map[string]int{}
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		inDoc[m[2]], _ = strconv.Atoi(m[1])
	}
	for _, e := range domain.Catalogue() {
		if got, has := inDoc[e.Code]; !has || got != StatusOf(e.Code) {
			t.Errorf("API.md: code %s has status %d in the table, %d in the API", e.Code, got, StatusOf(e.Code))
		}
	}
	for _, s := range []string{SubjectSessions, SubjectAnswer, SubjectGetRequest, NATSQueueGroup} {
		if !strings.Contains(doc, "`"+s+"`") {
			t.Errorf("API.md does not name %s", s)
		}
	}
}

// TestFeaturesNameRealTests: docs/FEATURES.md defines every feature number
// used in the code and docs (F1–F16, B1–B8), and each test it names exists
// (a name ending in * names a family of tests).
func TestFeaturesNameRealTests(t *testing.T) {
	doc := readDoc(t, "FEATURES.md")
	for i := 1; i <= 16; i++ {
		if !regexp.MustCompile(`(?m)^\| \*\*F` + strconv.Itoa(i) + `\*\* \|`).MatchString(doc) {
			t.Errorf("FEATURES.md has no row for F%d", i)
		}
	}
	for i := 1; i <= 8; i++ {
		if !regexp.MustCompile(`(?m)^\| \*\*B` + strconv.Itoa(i) + `\*\* `).MatchString(doc) {
			t.Errorf("FEATURES.md has no row for B%d", i)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..")
	var tests strings.Builder
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "data" || d.Name() == "bin") {
			return filepath.SkipDir
		}
		if strings.HasSuffix(path, "_test.go") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			tests.Write(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	named := regexp.MustCompile("`(Test[A-Za-z0-9_]*)(\\*?)`").FindAllStringSubmatch(doc, -1)
	if len(named) < 40 {
		t.Fatalf("FEATURES.md names only %d tests", len(named))
	}
	for _, m := range named {
		pat := `(?m)^func ` + m[1]
		if m[2] == "" {
			pat += `\(`
		}
		if !regexp.MustCompile(pat).MatchString(tests.String()) {
			t.Errorf("FEATURES.md names %s%s, which no test file defines", m[1], m[2])
		}
	}
}
