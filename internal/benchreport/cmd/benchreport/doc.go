// Command benchreport reads `go test -bench` output on stdin, copies it to
// stdout, and ends with one BENCH line per target of package benchreport:
//
//	go test -run '^$' -bench . ./... | go run ./internal/benchreport/cmd/benchreport
//
// With -strict it exits 1 when a target is short. It runs as one process,
// reading stdin to its end.
package main
