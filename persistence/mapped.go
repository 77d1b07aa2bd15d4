package persistence

import (
	"sync/atomic"
	"unsafe"

	"go.etcd.io/bbolt"
)

// bbolt reads its file through one read-only shared mapping. Every page a
// read touches stays mapped into the process afterwards, and Linux maps
// more than the page that faulted: the neighbours in the page cache, up to
// a 64 KiB window ("fault around"; bbolt's MADV_RANDOM stops readahead,
// not that). A tenant's index scan, or one read per activated account,
// thus leaves most of a large file in the process's resident set (VmRSS),
// though etaxd keeps what it read in its own memory and never reads those
// pages again soon.
//
// So reads count the 64 KiB windows of the map where the records they read
// lie, and give the map back with MADV_DONTNEED, before their transaction
// ends (the map cannot move while a read transaction is open): a point read
// (Get) adds its windows to a count of the store's, and the read that brings
// the count to sweepEvery releases the whole map; a scan (Scan, Audit) that
// counted scanSweep windows or more releases the whole map when it ends
// (not during: it revisits windows, and each sweep would make it fault them
// in again), a shorter one adds its windows to the store's count. For a
// shared file mapping that only takes the pages out of the process's page
// tables: the file's pages stay in the kernel's page cache, and the next
// read of them refaults them from there, the same bytes. What stays mapped
// at rest is bounded by the windows counted since the last sweep
// (sweepEvery × 64 KiB, 32 MiB) and the pages their reads passed on their
// way down the tree. The committer's write transactions count nothing:
// their pages go at the next sweep.
//
// The cost is the refaults: a read of a page that a sweep took away faults
// it in again (a few microseconds each; BenchmarkScanMappedPages).
// Releasing each read's own windows instead was measured and dropped: a
// madvise call per read (with the TLB flush it makes every processor of the
// process do) made 20,000 reads of single records 4.5 times slower, and one
// call over the span of a scan's page of records (its leaves lie all over
// the file) walked the page tables of most of the map every transaction.

// sweepEvery is how many windows counted make a sweep of the whole map.
const sweepEvery = 512

// scanSweep is how many windows a scan (Scan, Audit) must have counted to
// sweep the map when it ends: a tenant's index, not a short listing.
const scanSweep = 64

// faultWindow is Linux's fault-around window (fault_around_bytes, 64 KiB by
// default), aligned in the process's address space as the kernel aligns it.
const faultWindow = 64 << 10

// touched counts what one read transaction touched of the map. The zero
// value (and one made with keep) counts nothing.
type touched struct {
	base, end uintptr       // the map's first byte and the end of the file's data
	last      uintptr       // the window counted last, so that a run of records in one counts once
	windows   int64         // windows counted (a window counted again later counts again)
	sweep     bool          // release the whole map when the transaction ends
	scan      bool          // a scan's: the scan counts its windows (walk)
	counted   *atomic.Int64 // windows counted since the last sweep, store-wide
	every     int64         // sweepEvery, or what a test set (Bolt.sweepEvery)
}

// touchedIn prepares a touched for tx. With keep (BoltOptions.KeepReadPages)
// it counts nothing.
func touchedIn(db *bbolt.DB, tx *bbolt.Tx, keep bool, counted *atomic.Int64, every int64) touched {
	if keep || !releaseSupported {
		return touched{}
	}
	base := db.Info().Data
	return touched{base: base, end: base + uintptr(tx.Size()), counted: counted, every: every}
}

// count counts the windows b spans, if b lies in the map.
func (t *touched) count(b []byte) {
	if t.base == 0 || len(b) == 0 {
		return
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	hi := lo + uintptr(len(b))
	if lo < t.base || hi > t.end {
		return // not in the map (a copy, or a value of a dirty page)
	}
	first := lo &^ (faultWindow - 1)
	if first != t.last {
		t.windows += int64((hi - first + faultWindow - 1) / faultWindow)
		t.last = first
	}
}

// release gives back the whole map when a sweep is due. It must run before
// the transaction ends.
func (t *touched) release() {
	if t.base == 0 {
		return
	}
	if t.sweep {
		t.counted.Store(0)
		releasePages(t.base, t.end-t.base)
		return
	}
	if t.scan {
		return
	}
	if n := t.counted.Add(t.windows); n >= t.every && t.counted.CompareAndSwap(n, 0) {
		releasePages(t.base, t.end-t.base)
	}
}
