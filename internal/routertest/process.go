package routertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Build builds the main package pkg (a path as go build takes it, relative
// to the test's directory) into the test's temporary directory as name and
// returns the binary's path.
func Build(t *testing.T, pkg, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		t.Fatalf("build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// Process is a program a test runs, its stdout and stderr in Logs.
type Process struct {
	Logs   *SyncBuffer
	cmd    *exec.Cmd
	exited chan error
}

// StartProcess runs name with args in dir ("": the test's directory), env
// added to the test's environment. It is killed if it still runs when the
// test ends, and its output is logged when the test failed.
func StartProcess(t *testing.T, dir string, env []string, name string, args ...string) *Process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	p := &Process{Logs: &SyncBuffer{}, cmd: exec.CommandContext(ctx, name, args...), exited: make(chan error, 1)}
	p.cmd.Dir = dir
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.Logs, p.Logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.exited <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s output:\n%s", name, p.Logs.String())
		}
	})
	return p
}

// Stop sends sig, fails unless the process exits 0 within the given time,
// and returns its output.
func (p *Process) Stop(t *testing.T, sig syscall.Signal, within time.Duration) string {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			t.Fatalf("exit after %v: %v\n%s", sig, err, p.Logs.String())
		}
	case <-time.After(within):
		t.Fatalf("still running %s after %v:\n%s", within, sig, p.Logs.String())
	}
	return p.Logs.String()
}
