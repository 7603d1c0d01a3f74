// An OpenAI-compatible chat-completions server for the browser tests and
// the screenshot (no network, no model): it streams a scripted answer as the
// API does — `data: {chat.completion.chunk}` events, a finish reason, a
// usage chunk, `data: [DONE]` — slowly enough to watch it grow.

import http from "node:http";

/**
 * startStubLLM listens on a free port of 127.0.0.1. script(question) returns
 * {pieces: [strings], delay: ms before each piece, pauseAt?: index, pause?: ms}
 * for the last message of a request. Resolves with {url (give it to
 * -llm-url), requests (every request body), close()}.
 */
export function startStubLLM(script) {
  const requests = [];
  const server = http.createServer(async (req, res) => {
    if (req.method !== "POST" || req.url !== "/v1/chat/completions") {
      res.writeHead(404).end();
      return;
    }
    let body = "";
    for await (const chunk of req) body += chunk;
    const request = JSON.parse(body);
    requests.push(request);
    const question = request.messages.at(-1)?.content ?? "";
    const { pieces, delay = 100, pauseAt = -1, pause = 0 } = script(question);
    res.writeHead(200, { "Content-Type": "text/event-stream", "Cache-Control": "no-cache" });
    let gone = false;
    res.on("close", () => (gone = true));
    const chunk = (choices, usage = null) =>
      res.write(
        `data: ${JSON.stringify({ id: `chatcmpl-e2e${requests.length}`, object: "chat.completion.chunk", created: 1730000000, model: request.model, choices, usage })}\n\n`,
      );
    const choice = (delta, finish = null) => [{ index: 0, delta, logprobs: null, finish_reason: finish }];
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    chunk(choice({ role: "assistant", content: "" }));
    for (const [i, piece] of pieces.entries()) {
      await sleep(delay + (i === pauseAt ? pause : 0));
      if (gone) return;
      chunk(choice({ content: piece }));
    }
    chunk(choice({}, "stop"));
    chunk([], { prompt_tokens: 42, completion_tokens: pieces.length, total_tokens: 42 + pieces.length });
    res.end("data: [DONE]\n\n");
  });
  return new Promise((resolve, reject) => {
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}/v1`,
        requests,
        close: () => new Promise((r) => server.close(r).closeAllConnections()),
      });
    });
  });
}

/** words splits a text into pieces the way models stream it: a word and its trailing space each. */
export function words(text) {
  return text.split(/(?<= )/);
}
