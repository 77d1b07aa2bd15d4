package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/etaxd/etaxd/persistence"
)

type casStep struct {
	ops []persistence.Op
	// wantRevs are the revisions the step returns. With ExactRevisions they
	// are the numbers; otherwise labels: 0 is 0, and a key's labels stand
	// for its revisions in the same order (label 2 of key a is a revision
	// of a greater than label 1's). Non-zero Expected values are labels
	// too; a label no step produced stands for a revision the key never had.
	wantRevs []uint64
	wantErr  error
}

type casCase struct {
	name  string
	steps []casStep
	// want is the final content: key → "value@revision label"; absent keys
	// are listed in gone.
	want map[string]string
	gone []string
	// exact cases need revisions a caller can predict: run with
	// ExactRevisions only.
	exact bool
}

func op(key, value string, expected uint64) persistence.Op {
	return persistence.Op{Key: key, Value: []byte(value), Expected: expected}
}

func del(key string, expected uint64) persistence.Op {
	return persistence.Op{Key: key, Delete: true, Expected: expected}
}

var casCases = []casCase{
	{
		name:  "create with expected 0",
		steps: []casStep{{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}}},
		want:  map[string]string{"a": "1@1"},
	},
	{
		name: "create twice conflicts",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{op("a", "2", 0)}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"a": "1@1"},
	},
	{
		name: "update with the current revision",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{op("a", "2", 1)}, wantRevs: []uint64{2}},
			{ops: []persistence.Op{op("a", "3", 2)}, wantRevs: []uint64{3}},
		},
		want: map[string]string{"a": "3@3"},
	},
	{
		name: "stale revision writes nothing",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{op("a", "2", 1)}, wantRevs: []uint64{2}},
			{ops: []persistence.Op{op("a", "stale", 1)}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"a": "2@2"},
	},
	{
		name: "update of an absent key conflicts",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 1)}, wantErr: persistence.ErrRevisionMismatch},
		},
		gone: []string{"a"},
	},
	{
		name: "delete with its revision",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{del("a", 1)}, wantRevs: []uint64{0}},
		},
		gone: []string{"a"},
	},
	{
		name: "delete with a wrong revision writes nothing",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{del("a", 2)}, wantErr: persistence.ErrRevisionMismatch},
			{ops: []persistence.Op{del("a", 0)}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"a": "1@1"},
	},
	{
		name: "delete of an absent key with expected 0 is a no-op",
		steps: []casStep{
			{ops: []persistence.Op{del("a", 0)}, wantRevs: []uint64{0}},
		},
		gone: []string{"a"},
	},
	{
		name: "re-create after delete continues the revisions",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{op("a", "2", 1)}, wantRevs: []uint64{2}},
			{ops: []persistence.Op{del("a", 2)}, wantRevs: []uint64{0}},
			// A writer still holding revision 2 (or 1) cannot write.
			{ops: []persistence.Op{op("a", "stale", 2)}, wantErr: persistence.ErrRevisionMismatch},
			{ops: []persistence.Op{op("a", "stale", 1)}, wantErr: persistence.ErrRevisionMismatch},
			{ops: []persistence.Op{op("a", "new", 0)}, wantRevs: []uint64{3}},
			{ops: []persistence.Op{op("a", "stale", 2)}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"a": "new@3"},
	},
	{
		name: "any revision skips the check",
		steps: []casStep{
			{ops: []persistence.Op{{Key: "i", Value: []byte("1"), AnyRevision: true}}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{{Key: "i", Value: []byte("2"), Expected: 7, AnyRevision: true}}, wantRevs: []uint64{2}},
		},
		want: map[string]string{"i": "2@2"},
	},
	{
		name: "any-revision delete of an absent key is a no-op",
		steps: []casStep{
			{ops: []persistence.Op{{Key: "i", Delete: true, AnyRevision: true}}, wantRevs: []uint64{0}},
			{ops: []persistence.Op{op("i", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{{Key: "i", Delete: true, AnyRevision: true}}, wantRevs: []uint64{0}},
		},
		gone: []string{"i"},
	},
	{
		name: "multi-op commit is all or nothing",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{
				op("b", "x", 0),
				op("c", "x", 0),
				del("a", 1),
				op("a2", "x", 5), // fails
				op("d", "x", 0),
			}, wantErr: persistence.ErrRevisionMismatch},
			// The last op fails.
			{ops: []persistence.Op{op("b", "x", 0), del("a", 1), op("a", "y", 0), op("c", "x", 9)}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"a": "1@1"},
		gone: []string{"b", "c", "a2", "d"},
	},
	{
		name: "multi-op commit applies every op",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{
				op("b", "b", 0),
				op("a", "2", 1),
				op("c", "c", 0),
			}, wantRevs: []uint64{1, 2, 1}},
		},
		want: map[string]string{"a": "2@2", "b": "b@1", "c": "c@1"},
	},
	{
		name: "multi-op commit with deletes",
		steps: []casStep{
			{ops: []persistence.Op{op("a", "1", 0), op("b", "1", 0)}, wantRevs: []uint64{1, 1}},
			{ops: []persistence.Op{del("a", 1), op("b", "2", 1), del("z", 0), op("c", "1", 0)}, wantRevs: []uint64{0, 2, 0, 1}},
			{ops: []persistence.Op{op("a", "again", 0), del("b", 2)}, wantRevs: []uint64{2, 0}},
		},
		want: map[string]string{"a": "again@2", "c": "1@1"},
		gone: []string{"b", "z"},
	},
	{
		name: "ops on one key apply in order",
		steps: []casStep{
			{ops: []persistence.Op{
				op("a", "1", 0),
				op("a", "2", 1),
				del("a", 2),
				op("a", "4", 0),
			}, wantRevs: []uint64{1, 2, 0, 3}},
		},
		want:  map[string]string{"a": "4@3"},
		exact: true,
	},
	{
		name: "ops on one key apply in order, any revision",
		steps: []casStep{
			{ops: []persistence.Op{
				op("a", "1", 0),
				{Key: "a", Value: []byte("2"), AnyRevision: true},
				{Key: "a", Delete: true, AnyRevision: true},
				op("a", "4", 0),
				{Key: "b", Delete: true, AnyRevision: true},
				op("b", "1", 0),
			}, wantRevs: []uint64{1, 2, 0, 3, 0, 1}},
			{ops: []persistence.Op{del("a", 3), op("a", "5", 0), del("b", 1), op("b", "2", 0)}, wantRevs: []uint64{0, 4, 0, 2}},
		},
		want: map[string]string{"a": "5@4", "b": "2@2"},
	},
	{
		name: "a later op of one key checks the earlier op's revision",
		steps: []casStep{
			{ops: []persistence.Op{
				op("a", "1", 0),
				op("a", "2", 0), // expects 0, but the first op made 1
			}, wantErr: persistence.ErrRevisionMismatch},
			{ops: []persistence.Op{op("b", "1", 0)}, wantRevs: []uint64{1}},
			{ops: []persistence.Op{
				del("b", 1),
				op("b", "2", 1), // expects 1, but the delete left none
			}, wantErr: persistence.ErrRevisionMismatch},
		},
		want: map[string]string{"b": "1@1"},
		gone: []string{"a"},
	},
	{
		name: "empty value",
		steps: []casStep{
			{ops: []persistence.Op{{Key: "e", Value: nil}}, wantRevs: []uint64{1}},
		},
		want: map[string]string{"e": "@1"},
	},
	{
		name: "many ops, with repeated keys",
		steps: []casStep{{
			ops: func() []persistence.Op {
				var ops []persistence.Op
				for i := range 20 {
					ops = append(ops, persistence.Op{Key: fmt.Sprintf("k%d", i%10), Value: []byte("v"), Expected: uint64(i / 10)})
				}
				return ops
			}(),
			wantRevs: []uint64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2},
		}},
		want:  map[string]string{"k0": "v@2", "k9": "v@2"},
		exact: true,
	},
}

// labels maps each key's revision labels to the revisions the store gave.
type labels map[string]map[uint64]uint64

// expected translates an op's expected label into a revision.
func (l labels) expected(o persistence.Op) uint64 {
	if o.AnyRevision || o.Expected == 0 {
		return o.Expected
	}
	if rev, ok := l[o.Key][o.Expected]; ok {
		return rev
	}
	return 1<<62 + o.Expected // a revision the key never had
}

// learn records what a step returned, checking it against earlier labels:
// one label, one revision; a greater label, a greater revision.
func (l labels) learn(key string, label, rev uint64) error {
	if label == 0 {
		if rev != 0 {
			return fmt.Errorf("key %s: revision %d, want 0", key, rev)
		}
		return nil
	}
	if l[key] == nil {
		l[key] = map[uint64]uint64{}
	}
	if have, ok := l[key][label]; ok && have != rev {
		return fmt.Errorf("key %s: label %d is revision %d and %d", key, label, have, rev)
	}
	l[key][label] = rev
	ls := slices.Sorted(func(yield func(uint64) bool) {
		for k := range l[key] {
			if !yield(k) {
				return
			}
		}
	})
	for i := 1; i < len(ls); i++ {
		if l[key][ls[i-1]] >= l[key][ls[i]] {
			return fmt.Errorf("key %s: revisions do not grow: label %d is %d, label %d is %d",
				key, ls[i-1], l[key][ls[i-1]], ls[i], l[key][ls[i]])
		}
	}
	return nil
}

func (s suite) testCommitCAS(t *testing.T) {
	ctx := context.Background()
	for _, tt := range casCases {
		t.Run(tt.name, func(t *testing.T) {
			if tt.exact && !s.exact {
				t.Skip("needs revisions a caller can predict (ExactRevisions)")
			}
			b := s.open(t)
			l := labels{}
			for i, st := range tt.steps {
				ops := slices.Clone(st.ops)
				if !s.exact {
					for j := range ops {
						ops[j].Expected = l.expected(ops[j])
					}
				}
				revs, err := b.Commit(ctx, ops...)
				if st.wantErr != nil {
					if !errors.Is(err, st.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, st.wantErr)
					}
					if revs != nil {
						t.Fatalf("step %d: revs = %v on error", i, revs)
					}
					continue
				}
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if len(revs) != len(st.wantRevs) {
					t.Fatalf("step %d: revs = %v, want %v", i, revs, st.wantRevs)
				}
				if s.exact {
					if fmt.Sprint(revs) != fmt.Sprint(st.wantRevs) {
						t.Fatalf("step %d: revs = %v, want %v", i, revs, st.wantRevs)
					}
					continue
				}
				for j, rev := range revs {
					if err := l.learn(st.ops[j].Key, st.wantRevs[j], rev); err != nil {
						t.Fatalf("step %d, op %d: %v (revs %v, labels %v)", i, j, err, revs, st.wantRevs)
					}
				}
			}
			for k, want := range tt.want {
				rec := mustGet(t, b, k)
				value, label, _ := strings.Cut(want, "@")
				wantRev := fmt.Sprint(label)
				if !s.exact {
					var n uint64
					fmt.Sscan(label, &n)
					wantRev = fmt.Sprint(l[k][n])
				}
				if got := fmt.Sprintf("%s@%d", rec.Value, rec.Revision); got != value+"@"+wantRev || rec.Key != k {
					t.Errorf("Get(%q) = %s (key %q), want %s@%s", k, got, rec.Key, value, wantRev)
				}
			}
			for _, k := range tt.gone {
				wantAbsent(t, b, k)
			}
		})
	}
}

func (s suite) testCommitWithoutOps(t *testing.T) {
	b := s.open(t)
	revs, err := b.Commit(context.Background())
	if err != nil || revs == nil || len(revs) != 0 {
		t.Fatalf("Commit() = %#v, %v; want an empty slice", revs, err)
	}
}

func (s suite) testValuesAreCopies(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	v := []byte("original")
	mustPut(t, b, "k", string(v), 0)
	if _, err := b.Commit(ctx, persistence.Op{Key: "k2", Value: v}); err != nil {
		t.Fatal(err)
	}
	copy(v, "CHANGED!") // the caller may reuse its buffer after Commit
	rec := mustGet(t, b, "k2")
	if string(rec.Value) != "original" {
		t.Fatalf("stored value changed with the caller's buffer: %q", rec.Value)
	}
	rec.Value[0] = 'X' // and may modify what Get returned
	if got := mustGet(t, b, "k2"); string(got.Value) != "original" {
		t.Fatalf("stored value changed with Get's result: %q", got.Value)
	}
}

// testConcurrentCreateOneWins: writers creating one key at once, and then
// updating it from one revision: exactly one of each round wins, the others
// are refused with ErrRevisionMismatch, and the winner's value is stored.
func (s suite) testConcurrentCreateOneWins(t *testing.T) {
	ctx := context.Background()
	b := s.open(t)
	const writers = 8
	round := func(expected uint64) (winner string, rev uint64) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		wins := 0
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v := fmt.Sprintf("w%d", i)
				r, err := persistence.Put(ctx, b, "race", []byte(v), expected)
				switch {
				case err == nil:
					mu.Lock()
					wins++
					winner, rev = v, r
					mu.Unlock()
				case !errors.Is(err, persistence.ErrRevisionMismatch):
					t.Errorf("writer %d: %v", i, err)
				}
			}()
		}
		wg.Wait()
		if wins != 1 {
			t.Fatalf("%d writers won expecting revision %d, want 1", wins, expected)
		}
		return winner, rev
	}
	w1, r1 := round(0)
	if got := mustGet(t, b, "race"); string(got.Value) != w1 || got.Revision != r1 {
		t.Fatalf("stored %q@%d, the winner wrote %q@%d", got.Value, got.Revision, w1, r1)
	}
	w2, r2 := round(r1)
	if got := mustGet(t, b, "race"); string(got.Value) != w2 || got.Revision != r2 || r2 <= r1 {
		t.Fatalf("stored %q@%d, the winner wrote %q@%d after revision %d", got.Value, got.Revision, w2, r2, r1)
	}
}
