// Browser end-to-end test of the chat assistant: routerd, examples/chatbot
// with a stub language model (stubllm.mjs: streams like the API, no
// network), two headless Chromium pages. Run with `bash web/e2e/run.sh`.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Env, say, waitFor } from "./harness.mjs";
import { words } from "./stubllm.mjs";

/** TIMEOUT bounds every wait for something to show up on a page (ms). */
const TIMEOUT = 20000;

/** ANSWER is what the stub model says to a room question, with markup that must stay text. */
const ANSWER =
  "routerd keeps each room's recent events on JetStream, so a page that reconnects " +
  "rejoins with the last seq it saw and misses nothing. <b>not bold</b> <img src=x onerror=window.pwned=1>";

/** DIRECT is its answer to a direct question. */
const DIRECT = "A room is a named group of sockets: what one member emits, the others get.";

let env;
let alice;
let bob;

before(async () => {
  env = await Env.start({
    llm: (question) => ({ pieces: words(question.includes("what is a room") ? DIRECT : ANSWER), delay: 120 }),
  });
  alice = await env.page("?name=alice&room=lobby");
  bob = await env.page("?name=bob&room=lobby");
});

after(async () => {
  await env?.close();
});

/** answerText returns the text of the last assistant message in a conversation. */
function answerText(page, conv) {
  return page.evaluate((c) => [...document.querySelectorAll(`[data-conv="${c}"] .msg[data-answer] .text`)].at(-1)?.textContent ?? "", conv);
}

/** watchAnswer checks that the answer in conv shows while it grows (typing indicator, growing text), then ends with want. */
async function watchAnswer(page, conv, want) {
  const streaming = page.locator(`[data-conv="${conv}"] .msg.streaming`);
  await streaming.locator(".typing").waitFor({ timeout: TIMEOUT });
  const first = await waitFor("a first part of the answer", async () => {
    const t = await answerText(page, conv);
    return t.length > 0 && t.length < want.length && t;
  });
  const more = await waitFor("the answer growing", async () => {
    const t = await answerText(page, conv);
    return t.length > first.length && t.length < want.length && t;
  });
  assert.ok(want.startsWith(first) && want.startsWith(more), `streamed ${JSON.stringify(more)}`);
  await streaming.waitFor({ state: "detached", timeout: TIMEOUT });
  assert.equal(await answerText(page, conv), want);
  assert.equal(await page.locator(`[data-conv="${conv}"] .typing`).count(), 0);
}

test("a mention is answered in the room, growing on every member's page", async () => {
  await pagesReady();
  await say(alice, "@bot how does routerd keep history?");
  await Promise.all([watchAnswer(alice, "room:lobby", ANSWER), watchAnswer(bob, "room:lobby", ANSWER)]);
  const text = alice.locator('[data-conv="room:lobby"] .msg[data-answer] .text').last();
  assert.equal(await text.locator("b, img").count(), 0); // the model's markup stays text
  assert.equal(await alice.evaluate(() => window.pwned), undefined);
  assert.equal(await alice.locator('[data-conv="room:lobby"] .msg[data-answer] .name').last().textContent(), "bot");
});

test("the assistant's conversation answers direct questions, to the asker only", async () => {
  await alice.locator("#dms .open", { hasText: "bot" }).click();
  await alice.waitForFunction(() => document.getElementById("conv-title").textContent === "@ bot", null, { timeout: TIMEOUT });
  assert.match(await alice.locator("#conv-sub").textContent(), /assistant · stub-model/);
  await say(alice, "what is a room?");
  await watchAnswer(alice, "bot:bot", DIRECT);
  assert.equal(await bob.locator('[data-conv="bot:bot"] .msg[data-answer]').count(), 0);
  assert.equal(env.llm.requests.length, 2);
});

/** pagesReady waits until both pages list both members (the bot joins nothing). */
async function pagesReady() {
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => document.querySelectorAll("#members .who").length === 2, null, { timeout: TIMEOUT });
  }
}
