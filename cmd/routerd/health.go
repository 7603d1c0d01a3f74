package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// flagHealthcheck names the --healthcheck URL flag: a health check for
// container images that have no curl or wget (the distroless image's
// HEALTHCHECK runs `routerd --healthcheck http://127.0.0.1:8080/readyz`).
const flagHealthcheck = "healthcheck"

// healthTimeout bounds one health check request.
const healthTimeout = 5 * time.Second

// healthcheck GETs url and returns the exit code: 0 when it answers 200 OK,
// 1 otherwise (another status, no answer within healthTimeout, a bad URL).
// It prints the status and the start of the body either way.
func healthcheck(url string, stdout, stderr io.Writer) int {
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		fmt.Fprintf(stderr, "routerd: --%s %q: want an http:// or https:// URL\n", flagHealthcheck, url)
		return 2
	}
	client := &http.Client{Timeout: healthTimeout}
	resp, err := client.Get(url)
	if err != nil {
		fmt.Fprintln(stderr, "routerd: healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	line := resp.Status
	if b := strings.TrimSpace(string(body)); b != "" {
		line += ": " + b
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "routerd: healthcheck:", line)
		return 1
	}
	fmt.Fprintln(stdout, line)
	return 0
}
