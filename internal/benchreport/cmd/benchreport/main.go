package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/etaxd/etaxd/internal/benchreport"
)

func main() {
	strict := flag.Bool("strict", false, "exit 1 when a target is short")
	quiet := flag.Bool("q", false, "print the BENCH lines only, not the input")
	flag.Parse()
	var buf bytes.Buffer
	out := io.Writer(&buf)
	if !*quiet {
		out = io.MultiWriter(&buf, os.Stdout)
	}
	if _, err := io.Copy(out, os.Stdin); err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
	res, err := benchreport.Parse(&buf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(2)
	}
	short := false
	for _, l := range benchreport.Report(res, benchreport.Targets) {
		fmt.Println(l)
		short = short || !l.OK
	}
	if *strict && short {
		os.Exit(1)
	}
}
