package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/routerd/routerd/internal/routertest"
)

// testKey is the API key the tests give the bot: it must reach the model
// as a bearer token and appear nowhere else.
const testKey = "sk-test-5ecret-d0-not-log-me"

// The real binary with -llm-url: the key comes from OPENAI_API_KEY, reaches
// the model, and is never logged (debug level included) nor offered as a
// flag; the metrics are served on -metrics-addr; SIGTERM stops it cleanly.
func TestProcessAssistant(t *testing.T) {
	bin := buildChatbot(t)
	help, _ := exec.Command(bin, "-h").CombinedOutput()
	if !strings.Contains(string(help), "OPENAI_API_KEY") {
		t.Errorf("-h does not say where the key comes from:\n%s", help)
	}
	for _, l := range strings.Split(string(help), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "-") && strings.Contains(strings.ToLower(l), "key") {
			t.Errorf("a flag for the key: %q", l)
		}
	}

	node := routertest.Start(t, routertest.Config(t))
	stub := newStub(t, nil)
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", routertest.FreePort(t))
	p := startProcess(t, bin, []string{"OPENAI_API_KEY=" + testKey}, "-nats", node.NATSURL(), "-log-level", "debug",
		"-llm-url", stub.URL(), "-llm-model", "stub", "-metrics-addr", metricsAddr)
	alice := joinChat(node, "lobby")
	routertest.Eventually(t, "the process is ready", func() error {
		if !strings.Contains(p.Logs.String(), "chatbot ready") {
			return fmt.Errorf("not yet")
		}
		return nil
	})
	alice.say("alice", "@bot hello?")
	if r := alice.nextAnswer(t); r.final.Text != "Hello from the stub." {
		t.Fatalf("answer %+v", r.final)
	}
	if reqs := stub.requests(); len(reqs) != 1 || reqs[0].Authorization != "Bearer "+testKey {
		t.Fatalf("the model got %d requests, authorization %q", len(reqs), reqs[0].Authorization)
	}
	metrics := scrape(t, "http://"+metricsAddr+"/metrics")
	for _, want := range []string{`chatbot_llm_questions_total{via="mention"} 1`, `chatbot_llm_answers_total{outcome="done"} 1`,
		`chatbot_llm_errors_total{kind="api"} 0`, `chatbot_llm_tokens_total{kind="completion"} 4`, "chatbot_llm_answer_seconds_count 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	logs := p.Stop(t, syscall.SIGTERM, 20*time.Second)
	for _, want := range []string{"assistant ready", "answer ended", "chatbot stopped"} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if strings.Contains(logs, testKey) || strings.Contains(logs, "5ecret") {
		t.Fatalf("the key is in the log:\n%s", logs)
	}
}

// scrape GETs url and returns the body.
func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape: %v", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %d, %v", res.StatusCode, err)
	}
	return string(body)
}
