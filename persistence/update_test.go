package persistence

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestKeyTableMatchesDoc: the key table of doc.go lists exactly the
// prefixes and owners of KeyOwners.
func TestKeyTableMatchesDoc(t *testing.T) {
	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(src)
	start := strings.Index(doc, "// # Keys")
	end := strings.Index(doc, "// # Acknowledgement")
	if start < 0 || end < start {
		t.Fatal("doc.go has no Keys and Acknowledgement sections")
	}
	row := regexp.MustCompile(`^//\t([a-z]+/)\S*\s{2,}(.+)$`)
	inDoc := map[string]string{}
	for _, line := range strings.Split(doc[start:end], "\n") {
		if m := row.FindStringSubmatch(line); m != nil {
			inDoc[m[1]] = m[2]
		}
	}
	for _, o := range KeyOwners {
		if got, has := inDoc[o.Prefix]; !has {
			t.Errorf("doc.go does not list %s", o.Prefix)
		} else if got != o.Owner {
			t.Errorf("doc.go names %q the owner of %s, keys.go %q", got, o.Prefix, o.Owner)
		}
		delete(inDoc, o.Prefix)
	}
	for p := range inDoc {
		t.Errorf("doc.go lists %s, which keys.go does not know", p)
	}
}
