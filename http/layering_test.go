package httpapi

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// forbiddenBelowHTTP are the packages the HTTP side must not import: it
// reaches them only through the engine (package actors) and its types.
var forbiddenBelowHTTP = []string{"persistence", "taxbureau", "prompts", "events", "natsbus"}

const modulePath = "github.com/etaxd/etaxd/"

// forbiddenImport returns the forbidden package path imports (or one of its
// subpackages), or "".
func forbiddenImport(path string) string {
	rel, ok := strings.CutPrefix(path, modulePath)
	if !ok {
		return ""
	}
	for _, f := range forbiddenBelowHTTP {
		if rel == f || strings.HasPrefix(rel, f+"/") {
			return f
		}
	}
	return ""
}

// importViolations parses the imports of src (a Go file named name) and
// lists the forbidden ones as "name imports path".
func importViolations(t *testing.T, fset *token.FileSet, name string, src any) []string {
	t.Helper()
	f, err := parser.ParseFile(fset, name, src, parser.ImportsOnly)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	var out []string
	for _, imp := range f.Imports {
		path, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			t.Fatalf("%s: import %s: %v", name, imp.Path.Value, err)
		}
		if forbiddenImport(path) != "" {
			out = append(out, name+" imports "+path)
		}
	}
	return out
}

// TestHTTPImportsOnlyTheEngine: no non-test Go file of http, http/h5,
// http/opsapi (or any package added under http/) imports persistence,
// taxbureau, prompts, events or natsbus. The engine's own types
// (actors/types.go) and services (actors/services.go) stand for them;
// cmd/etaxd wires the concrete parts in.
func TestHTTPImportsOnlyTheEngine(t *testing.T) {
	fset := token.NewFileSet()
	var violations []string
	dirs := map[string]int{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		dirs[filepath.Dir(path)]++
		violations = append(violations, importViolations(t, fset, path, nil)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The walk saw the three packages: a test that checks nothing passes.
	for _, dir := range []string{".", "h5", "opsapi"} {
		if dirs[dir] == 0 {
			t.Fatalf("no Go files read in http/%s (read %v)", dir, dirs)
		}
	}
	slices.Sort(violations)
	for _, v := range violations {
		t.Errorf("%s: the HTTP side goes through package actors", v)
	}
}

// TestImportViolationsFindsForbiddenImports: the check flags each
// forbidden package and its subpackages, and nothing else.
func TestImportViolationsFindsForbiddenImports(t *testing.T) {
	fset := token.NewFileSet()
	src := `package x

import (
	"context"

	"github.com/etaxd/etaxd/actors"
	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/internal/clock"
	"github.com/etaxd/etaxd/persistence"
	"github.com/etaxd/etaxd/persistence/sub"
	store "github.com/etaxd/etaxd/taxbureau"
	_ "github.com/etaxd/etaxd/prompts"
	"github.com/etaxd/etaxd/events"
	"github.com/etaxd/etaxd/natsbus"
	"github.com/etaxd/etaxd/promptsx"
)
`
	got := importViolations(t, fset, "x.go", src)
	want := []string{
		"x.go imports github.com/etaxd/etaxd/persistence",
		"x.go imports github.com/etaxd/etaxd/persistence/sub",
		"x.go imports github.com/etaxd/etaxd/taxbureau",
		"x.go imports github.com/etaxd/etaxd/prompts",
		"x.go imports github.com/etaxd/etaxd/events",
		"x.go imports github.com/etaxd/etaxd/natsbus",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations\n%q\nwant\n%q", got, want)
	}
}
