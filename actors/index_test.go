package actors

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/etaxd/etaxd/domain"
	"github.com/etaxd/etaxd/persistence"
)

// indexEntrySamples are stored index entries: as the engine writes them,
// and shapes that only encoding/json reads right, for decode to pass on.
func indexEntrySamples() []string {
	at := time.Date(2026, 11, 27, 9, 0, 0, 0, time.FixedZone("", 8*3600))
	refs := []accountRef{
		{ID: "a64tq5i9nkc3ck2if", TaxNo: "91440000000000027N", Region: "44", Username: "qx", PersonID: "P1480ad59ab53",
			Role: "09", Business: domain.BusinessIssue, LoginType: "qixiangyun", CreatedAt: at},
		{ID: "aukdy4x4x7cy6xwpg", TaxNo: "91110000000000019B", Region: "11", Username: "开票员张三", PersonID: "110101199001011234",
			Role: "09", Business: domain.BusinessBoth, LoginType: "manual", BoundTo: "oWx-openid_1", Unreachable: true, CreatedAt: at.UTC()},
		{ID: "a2", Username: "a\"b\\c\u2028", PersonID: "<&>", BoundTo: "o", CreatedAt: at.Add(123456789 * time.Nanosecond)},
		{},
	}
	var out []string
	for _, r := range refs {
		out = append(out, string(jsonMarshal(&r)))
	}
	return append(out,
		`{}`, ` { } `, "\t{\"id\" : \"a1\" ,\n\"username\":\"u\",\"person_id\":\"p\" }\r\n",
		`{"id":"a1","username":"u","person_id":"p","unreachable":false,"unreachable":true}`,
		`{"id":"a1","id":"a2","username":"u","person_id":"p"}`,
		`{"id":"a1","username":"u","person_id":"p","ID":"a3"}`,
		`{"Id":"a1","username":"u","person_id":"p"}`,
		`{"id":"a1","username":"u","person_id":"p","extra":1}`,
		`{"id":"a1","username":null,"person_id":"p"}`,
		`{"id":"a\u00e9","username":"u","person_id":"p"}`,
		"{\"id\":\"a\xff\",\"username\":\"u\",\"person_id\":\"p\"}",
		"{\"id\":\"a\x01\",\"username\":\"u\",\"person_id\":\"p\"}",
		`{"id":"a1","username":"u","person_id":"p","unreachable":"true"}`,
		`{"id":"a1","username":"u","person_id":"p","unreachable":1}`,
		`{"id":"a1","username":"u","person_id":"p","business":"none"}`,
		`{"id":"a1","username":"u","person_id":"p","business":"bogus"}`,
		`{"id":"a1","username":"u","person_id":"p","business":"Issue"}`,
		`{"id":"a1","username":"u","person_id":"p","created_at":"2026-11-27"}`,
		`{"id":"a1","username":"u","person_id":"p","created_at":"2026-11-27T09:00:00.5Z"}`,
		`{"id":"a1","username":"u","person_id":"p","created_at":null}`,
		`{"id":"a1","username":"u","person_id":"p"}x`,
		`{"id":"a1","username":"u","person_id":"p"}{}`,
		`{"id":"a1","username":"u","person_id":"p",}`,
		`{"id":"a1" "username":"u"}`,
		`{"id":"a1"`, `{"id":`, `{"id"`, `{`, ``, `null`, `[]`, `"x"`, `{"id":"a1","role":"09","tax_no":"T"}`,
	)
}

// sameAsJSON checks that decode reads b as json.Unmarshal reads it into
// an accountRef.
func sameAsJSON(t *testing.T, l *indexLoader, b []byte) {
	t.Helper()
	var want accountRef
	werr := json.Unmarshal(b, &want)
	got, err := l.decode(b)
	if (err != nil) != (werr != nil) {
		t.Fatalf("decode(%q): error %v, encoding/json: %v", b, err, werr)
	}
	if err != nil {
		return
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("decode(%q) = %+v, encoding/json reads %+v", b, *got, want)
	}
}

func TestIndexDecodeReadsAsEncodingJSON(t *testing.T) {
	l := newIndexLoader()
	for _, s := range indexEntrySamples() {
		sameAsJSON(t, l, []byte(s))
	}
}

func FuzzIndexDecode(f *testing.F) {
	for _, s := range indexEntrySamples() {
		f.Add([]byte(s))
	}
	l := newIndexLoader()
	f.Fuzz(func(t *testing.T, b []byte) { sameAsJSON(t, l, b) })
}

// scaleIndexRecords returns n stored index entries of one tenant shaped as
// internal/scale registers them: 5 enterprises, manual-login invoicers.
func scaleIndexRecords(n int) []persistence.Record {
	at := time.Date(2026, 12, 3, 10, 0, 0, 123456789, time.UTC)
	recs := make([]persistence.Record, n)
	for i := range recs {
		ref := accountRef{ID: NewAccountID(), TaxNo: fmt.Sprintf("9144030000000%04dX", i%5), Region: "44",
			Username: fmt.Sprintf("kp%07d", i), PersonID: fmt.Sprintf("11010119900101%04d", i%10000),
			Role: domain.RoleInvoicer, Business: domain.BusinessIssue, LoginType: domain.LoginManual, CreatedAt: at}
		recs[i] = persistence.Record{Key: keyAccountRef("t1", ref.ID), Value: jsonMarshal(&ref), Revision: uint64(i + 1)}
	}
	return recs
}

func TestIndexLoaderSharesRepeatedStrings(t *testing.T) {
	recs := scaleIndexRecords(50)
	l := newIndexLoader()
	for _, r := range recs {
		if err := l.add(r); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.refs) != len(recs) {
		t.Fatalf("%d entries, want %d", len(l.refs), len(recs))
	}
	first := map[string]*accountRef{} // by tax number
	for _, r := range recs {
		var want accountRef
		if err := json.Unmarshal(r.Value, &want); err != nil {
			t.Fatal(err)
		}
		want.rev = r.Revision
		got := l.refs[want.ID]
		if got == nil || !reflect.DeepEqual(*got, want) {
			t.Fatalf("entry %s = %+v, want %+v", want.ID, got, want)
		}
		f := first[got.TaxNo]
		if f == nil {
			first[got.TaxNo] = got
			continue
		}
		for _, p := range [][2]string{{f.TaxNo, got.TaxNo}, {f.Region, got.Region}, {string(f.Role), string(got.Role)}, {string(f.LoginType), string(got.LoginType)}} {
			if unsafe.StringData(p[0]) != unsafe.StringData(p[1]) {
				t.Fatalf("%q of entries %s and %s: two copies, want one", p[0], f.ID, got.ID)
			}
		}
	}
	if len(first) != 5 {
		t.Fatalf("%d tax numbers, want 5", len(first))
	}
}

// legacyIndexLoad is the index as tenantActor.load built it before
// index.go: encoding/json into each entry, and the revisions in a second
// map. BenchmarkIndexLoad measures against it.
func legacyIndexLoad(recs []persistence.Record) (map[string]*accountRef, map[string]uint64) {
	refs, revs := map[string]*accountRef{}, map[string]uint64{}
	for _, r := range recs {
		var ref accountRef
		if err := jsonUnmarshal(r.Value, &ref); err != nil {
			panic(err)
		}
		refs[ref.ID], revs[ref.ID] = &ref, r.Revision
	}
	return refs, revs
}

func indexLoad(recs []persistence.Record) map[string]*accountRef {
	l := newIndexLoader()
	for _, r := range recs {
		if err := l.add(r); err != nil {
			panic(err)
		}
	}
	return l.refs
}

// BenchmarkIndexLoad loads a tenant's index of 100,000 entries shaped as
// internal/scale's, the legacy way and index.go's in turn, each b.N times,
// and reports the heap each keeps per entry (after a collection) and the
// time per entry, both ways, and their ratios (new / legacy).
func BenchmarkIndexLoad(b *testing.B) {
	const n = 100_000
	recs := scaleIndexRecords(n)
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	var legacyBytes, newBytes float64
	var legacyTime, newTime time.Duration
	b.ResetTimer()
	for range b.N {
		h0 := heap()
		start := time.Now()
		refs, revs := legacyIndexLoad(recs)
		legacyTime += time.Since(start)
		legacyBytes += float64(heap() - h0)
		runtime.KeepAlive(refs)
		runtime.KeepAlive(revs)
		refs, revs = nil, nil

		h0 = heap()
		start = time.Now()
		idx := indexLoad(recs)
		newTime += time.Since(start)
		newBytes += float64(heap() - h0)
		runtime.KeepAlive(idx)
	}
	per := float64(b.N) * n
	b.ReportMetric(legacyBytes/per, "legacy-B/entry")
	b.ReportMetric(newBytes/per, "B/entry")
	b.ReportMetric(newBytes/legacyBytes, "heap-ratio")
	b.ReportMetric(float64(legacyTime.Nanoseconds())/per, "legacy-ns/entry")
	b.ReportMetric(float64(newTime.Nanoseconds())/per, "ns/entry")
	b.ReportMetric(float64(newTime)/float64(legacyTime), "time-ratio")
}
