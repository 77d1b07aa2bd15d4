// Package blackbox runs etaxd and etax-sim as separate processes on
// 127.0.0.1 and drives them only through their HTTP surfaces, as an ERP and
// an operator would.
package blackbox
