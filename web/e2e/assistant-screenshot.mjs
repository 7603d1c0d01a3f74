// Makes examples/chatbot/assistant.png: the chatbot's assistant streaming
// an answer into a room, caught mid-answer (typing indicator on), seen from
// alice's page. The model is the stub of stubllm.mjs (no network). Run with
// `node assistant-screenshot.mjs` here after `npm ci` (Chromium at
// /usr/bin/chromium, as run.sh installs it).

import path from "node:path";
import { Env, repo, say, seen } from "./harness.mjs";
import { words } from "./stubllm.mjs";

const out = path.join(repo, "examples/chatbot/assistant.png");
const FIRST = "Every room event of a namespace with history is kept on JetStream, with a sequence number. ";
const REST = "When a page reconnects, it rejoins with the last seq it showed and routerd replays what it missed: no gap, no duplicate.";

const env = await Env.start({
  llm: () => ({ pieces: words(FIRST + REST), delay: 60, pauseAt: words(FIRST).length + 4, pause: 60000 }),
});
try {
  const alice = await env.page("?name=alice&room=lobby&room=assistant");
  const bob = await env.page("?name=bob&room=lobby");
  await seen(alice, "#members .who", "bob");
  await alice.locator("#rooms .open", { hasText: "lobby" }).click();
  await say(bob, "Does anyone know how the chat page catches up after a reconnect?");
  await seen(alice, '[data-conv="room:lobby"] .text', "catches up");
  await say(alice, "@bot can you explain it in two sentences?");
  await seen(alice, '[data-conv="room:lobby"] .msg.streaming .text', "When a page reconnects,");
  await alice.locator("#text").focus();
  await alice.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await env.close();
}
