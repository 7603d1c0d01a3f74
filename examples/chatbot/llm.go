package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/ssestream"
)

// turn is one message of a conversation with the model.
type turn struct {
	role string // roleSystem, roleUser or roleAssistant
	text string
}

// Roles of turns.
const (
	roleSystem    = "system"
	roleUser      = "user"
	roleAssistant = "assistant"
)

// usage is what one answer cost, as the server reported it.
type usage struct {
	prompt, completion int64
	reported           bool // false: the server sent no usage
}

// model is a language model that streams its answers.
type model interface {
	// Stream asks for the answer to turns and calls onText with each piece
	// of it, in order. It returns once the answer is complete (nil), ctx
	// has ended, or the model failed.
	Stream(ctx context.Context, turns []turn, onText func(string)) (usage, error)
}

// errBrokenOff is a stream that ended without a finish reason.
var errBrokenOff = errors.New("the stream ended before the answer did")

// openaiModel is a model behind an OpenAI-compatible chat-completions API
// (OpenAI, Ollama, llama.cpp, vLLM, ...), reached with the official client.
type openaiModel struct {
	client    openai.Client
	name      string
	maxTokens int
}

// newOpenAIModel returns the model of c. The key is sent as a bearer token
// when set, and nowhere else.
func newOpenAIModel(c LLMConfig) *openaiModel {
	opts := []option.RequestOption{
		option.WithBaseURL(c.URL),
		option.WithMaxRetries(c.Retries),
	}
	if key := c.APIKey.reveal(); key != "" {
		opts = append(opts, option.WithAPIKey(key))
	}
	return &openaiModel{client: openai.NewClient(opts...), name: c.Model, maxTokens: c.MaxTokens}
}

// Stream implements model with a streaming chat completion
// (stream_options.include_usage on, for the token counters).
func (m *openaiModel) Stream(ctx context.Context, turns []turn, onText func(string)) (usage, error) {
	params := openai.ChatCompletionNewParams{
		Model:         m.name,
		Messages:      make([]openai.ChatCompletionMessageParamUnion, 0, len(turns)),
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	}
	for _, t := range turns {
		switch t.role {
		case roleSystem:
			params.Messages = append(params.Messages, openai.SystemMessage(t.text))
		case roleAssistant:
			params.Messages = append(params.Messages, openai.AssistantMessage(t.text))
		default:
			params.Messages = append(params.Messages, openai.UserMessage(t.text))
		}
	}
	var opts []option.RequestOption
	if m.maxTokens > 0 {
		// max_tokens rather than max_completion_tokens: every compatible
		// server knows it.
		opts = append(opts, option.WithJSONSet("max_tokens", m.maxTokens))
	}
	stream := m.client.Chat.Completions.NewStreaming(ctx, params, opts...)
	defer stream.Close()
	var u usage
	finished := false
	for stream.Next() {
		chunk := stream.Current()
		if chunk.Usage.PromptTokens > 0 || chunk.Usage.CompletionTokens > 0 {
			u = usage{prompt: chunk.Usage.PromptTokens, completion: chunk.Usage.CompletionTokens, reported: true}
		}
		for _, c := range chunk.Choices {
			if c.Index != 0 {
				continue
			}
			if c.Delta.Content != "" {
				onText(c.Delta.Content)
			}
			if c.FinishReason != "" {
				finished = true
			}
		}
	}
	if err := stream.Err(); err != nil {
		return u, err
	}
	if !finished {
		return u, errBrokenOff
	}
	return u, nil
}

// failure says why an answer failed: a kind for the metrics and a reason
// for the people in the room. Neither carries the request, its headers or
// the server's text.
func failure(err error, timeout time.Duration) (kind, reason string) {
	var apiErr *openai.Error
	var streamErr *ssestream.StreamError
	var urlErr *url.Error
	switch {
	case errors.Is(err, errTimeout):
		return "timeout", fmt.Sprintf("the model did not finish within %s", timeout)
	case errors.Is(err, errEmpty):
		return "empty", "the model gave no answer"
	case errors.As(err, &apiErr) && apiErr.StatusCode == 429:
		return "api", "the model is busy (HTTP 429)"
	case errors.As(err, &apiErr):
		return "api", fmt.Sprintf("the model answered with an error (HTTP %d)", apiErr.StatusCode)
	case errors.As(err, &streamErr):
		return "stream", "the model failed while answering"
	case errors.As(err, &urlErr):
		return "connection", "the model could not be reached"
	default:
		return "stream", "the model's answer broke off"
	}
}
