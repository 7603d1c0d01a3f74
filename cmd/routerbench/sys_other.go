//go:build !unix

package main

// ensureFiles has nothing to raise outside Unix.
func ensureFiles(uint64) (string, error) { return "", nil }

// generatorCPU is not measured outside Unix.
func generatorCPU() float64 { return 0 }
