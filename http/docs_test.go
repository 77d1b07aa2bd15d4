package httpapi

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
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
	for code, status := range statusOf {
		if got, has := inDoc[code]; !has || got != status {
			t.Errorf("API.md: code %s has status %d in the table, %d in statusOf", code, got, status)
		}
	}
	for _, s := range []string{SubjectSessions, SubjectAnswer, SubjectGetRequest, NATSQueueGroup} {
		if !strings.Contains(doc, "`"+s+"`") {
			t.Errorf("API.md does not name %s", s)
		}
	}
}
