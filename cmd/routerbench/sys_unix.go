//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// ensureFiles raises the soft limit on open files (RLIMIT_NOFILE) to the
// hard limit when fewer than n are allowed (every connection is a file) and
// says what it did. Go already raises it at start-up since Go 1.19, so this
// mostly checks, and says what to do when the hard limit itself is too low.
func ensureFiles(n uint64) (note string, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("getrlimit: %w", err)
	}
	if lim.Cur >= n {
		return "", nil
	}
	if lim.Max < n {
		return "", fmt.Errorf("%d open files needed, but the hard limit (RLIMIT_NOFILE) is %d: raise it (ulimit -Hn, or LimitNOFILE)", n, lim.Max)
	}
	old := lim.Cur
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return "", fmt.Errorf("setrlimit: %w", err)
	}
	return fmt.Sprintf("raised the open-file limit (RLIMIT_NOFILE) from %d to %d", old, lim.Cur), nil
}

// generatorCPU is the CPU time routerbench has used, user and system, in seconds.
func generatorCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
