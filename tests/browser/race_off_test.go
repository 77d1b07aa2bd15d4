//go:build !race

package browser

// raceEnabled builds etaxd with -race when the suite itself runs with it.
const raceEnabled = false
