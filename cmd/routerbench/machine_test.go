package main

import "testing"

func TestParseCPULine(t *testing.T) {
	m, ok := parseCPULine("cpu  228619 2257 68053 208613 687 100 7511 1537 0 0\n")
	if !ok {
		t.Fatal("not parsed")
	}
	if want := (228619.0 + 2257 + 68053 + 100 + 7511 + 1537) / 100; m.busy != want || m.steal != 15.37 {
		t.Errorf("busy %v steal %v, want %v and 15.37", m.busy, m.steal, want)
	}
	for _, bad := range []string{"cpu0 1 2 3 4 5 6 7 8", "cpu 1 2 3", "cpu 1 2 x 4 5 6 7 8", ""} {
		if _, ok := parseCPULine(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}
