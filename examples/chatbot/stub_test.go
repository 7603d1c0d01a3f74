package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// stubModel is an OpenAI-compatible chat-completions server for the tests
// (no network): it streams the answer a test scripts exactly as the API
// does — `data: {chat.completion.chunk}` events, a finish reason, a usage
// chunk, `data: [DONE]` — or fails, slowly or at once, and records every
// request.
type stubModel struct {
	srv    *httptest.Server
	script func(stubRequest) stubReply

	mu   sync.Mutex
	reqs []stubRequest // guarded by mu
	gone int           // requests whose client went away before the end; guarded by mu
}

// stubRequest is a request as the stub received it.
type stubRequest struct {
	Model    string `json:"model"`
	Stream   bool   `json:"stream"`
	Messages []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
	StreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	MaxTokens     int    `json:"max_tokens"`
	Authorization string `json:"-"`
}

// last is the text of the request's last message: the question.
func (r stubRequest) last() string {
	if len(r.Messages) == 0 {
		return ""
	}
	return r.Messages[len(r.Messages)-1].Content
}

// stubReply is how the stub answers one request.
type stubReply struct {
	Status  int           // not 0 or 200: an error response with this status
	Pieces  []string      // the answer's pieces, one chunk each
	Delay   time.Duration // before each piece
	Hold    chan struct{} // after the first piece, wait until closed (or the client leaves)
	NoUsage bool          // send no usage chunk
}

// newStub starts a stub whose answers script gives (a fixed answer when
// nil), closed when the test ends.
func newStub(t *testing.T, script func(stubRequest) stubReply) *stubModel {
	t.Helper()
	if script == nil {
		script = func(stubRequest) stubReply { return stubReply{Pieces: []string{"Hello", " from", " the", " stub."}} }
	}
	s := &stubModel{script: script}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the base URL to give -llm-url.
func (s *stubModel) URL() string { return s.srv.URL + "/v1" }

// requests returns the requests received so far.
func (s *stubModel) requests() []stubRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]stubRequest(nil), s.reqs...)
}

// cancelled returns how many requests ended because their client left.
func (s *stubModel) cancelled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gone
}

func (s *stubModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v1/chat/completions" {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var req stubRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, `{"error":{"message":"bad json","type":"invalid_request_error","param":null,"code":null}}`, http.StatusBadRequest)
		return
	}
	req.Authorization = r.Header.Get("Authorization")
	s.mu.Lock()
	s.reqs = append(s.reqs, req)
	n := len(s.reqs)
	s.mu.Unlock()
	rep := s.script(req)
	if rep.Status != 0 && rep.Status != http.StatusOK {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(rep.Status)
		fmt.Fprint(w, `{"error":{"message":"the stub failed on purpose","type":"server_error","param":null,"code":null}}`)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	flusher := w.(http.Flusher)
	id := fmt.Sprintf("chatcmpl-stub%d", n)
	send := func(choices any, usage any) {
		chunk := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": 1730000000, "model": req.Model,
			"system_fingerprint": "fp_stub", "choices": choices, "usage": usage,
		}
		data, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", data)
		flusher.Flush()
	}
	choice := func(delta map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}
	}
	wait := func(ch <-chan struct{}) bool {
		select {
		case <-ch:
			return true
		case <-r.Context().Done():
			s.mu.Lock()
			s.gone++
			s.mu.Unlock()
			return false
		}
	}
	send(choice(map[string]any{"role": "assistant", "content": ""}, nil), nil)
	for i, p := range rep.Pieces {
		if rep.Delay > 0 && !wait(timer(rep.Delay)) {
			return
		}
		send(choice(map[string]any{"content": p}, nil), nil)
		if i == 0 && rep.Hold != nil && !wait(rep.Hold) {
			return
		}
	}
	send(choice(map[string]any{}, "stop"), nil)
	if !rep.NoUsage {
		send([]any{}, map[string]any{"prompt_tokens": 11, "completion_tokens": len(rep.Pieces), "total_tokens": 11 + len(rep.Pieces)})
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// timer returns a channel closed after d.
func timer(d time.Duration) <-chan struct{} {
	ch := make(chan struct{})
	time.AfterFunc(d, func() { close(ch) })
	return ch
}
