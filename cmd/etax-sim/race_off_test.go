//go:build !race

package main

// raceBuild reports whether the tests run with the race detector; the
// binary they start is then built with it too.
const raceBuild = false
