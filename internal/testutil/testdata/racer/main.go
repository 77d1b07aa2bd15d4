// Command racer writes one variable from two goroutines without a lock, so
// that a build with -race reports a data race; then it waits for SIGTERM.
// TestStartProcessFailsOnARace runs it.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	var n int
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { n++ })
	}
	wg.Wait()
	fmt.Println("racer: wrote", n)
	<-stop
}
