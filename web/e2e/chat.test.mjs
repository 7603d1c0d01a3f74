// Browser end-to-end test of the chat page: real routerd and chatbot
// processes, two headless Chromium pages. Run with `bash web/e2e/run.sh`
// (or `node --test` here after `npm ci`).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Env, say } from "./harness.mjs";

/** TIMEOUT bounds every wait for something to show up on a page (ms). */
const TIMEOUT = 20000;

let env;
let alice;
let bob;

before(async () => {
  env = await Env.start();
  alice = await env.page("?name=alice&room=lobby");
  bob = await env.page("?name=bob&room=lobby");
});

after(async () => {
  await env?.close();
});

/** lines locates the chat lines of a conversation ("room:lobby", "dm:<sid>"). */
function lines(page, conv, text) {
  return page.locator(`[data-conv="${conv}"] .msg .text`).filter({ hasText: text });
}

/** see waits until the page shows a line with that text in the conversation. */
function see(page, conv, text) {
  return lines(page, conv, text).first().waitFor({ state: "attached", timeout: TIMEOUT });
}

/** membersAre waits until the member list shows exactly the expected names. */
async function membersAre(page, names) {
  const want = JSON.stringify([...names].sort());
  await page.waitForFunction(
    (w) => JSON.stringify([...document.querySelectorAll("#members .who")].map((n) => n.textContent).sort()) === w,
    want,
    { timeout: TIMEOUT },
  );
}

test("joining from the URL focuses the message input", async () => {
  for (const page of [alice, bob]) {
    await page.waitForFunction(() => document.activeElement?.id === "text", null, { timeout: TIMEOUT });
    assert.equal(await page.locator("#conv-title").textContent(), "# lobby");
  }
});

test("two pages exchange lines and see each other in the member list", async () => {
  await membersAre(alice, ["alice", "bob"]);
  await membersAre(bob, ["alice", "bob"]);
  await say(alice, "hello from alice");
  await see(bob, "room:lobby", "hello from alice");
  await say(bob, "hi alice, bob here");
  await see(alice, "room:lobby", "hi alice, bob here");
  assert.equal(await lines(bob, "room:lobby", "hello from alice").locator("xpath=../..").locator(".name").textContent(), "alice");
});

test("text is rendered as text, never as HTML", async () => {
  const text = '<img src=x onerror="window.pwned=1"><b>bold</b>';
  await say(alice, text);
  await see(bob, "room:lobby", "<b>bold</b>");
  const line = lines(bob, "room:lobby", "<b>bold</b>").first();
  assert.equal(await line.textContent(), text);
  assert.equal(await line.locator("b, img").count(), 0);
  assert.equal(await bob.evaluate(() => window.pwned), undefined);
});

test("a direct message reaches only its addressee", async () => {
  await alice.locator("#members button.member-row", { hasText: "bob" }).click();
  await alice.waitForFunction(() => document.getElementById("conv-title").textContent === "@ bob", null, {
    timeout: TIMEOUT,
  });
  await say(alice, "psst, bob");
  await bob.locator('[data-conv^="dm:"] .msg .text', { hasText: "psst, bob" }).waitFor({ state: "attached", timeout: TIMEOUT });
  await bob.locator("#dms .conv", { hasText: "alice" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await lines(bob, "room:lobby", "psst").count(), 0);
  await alice.locator("#rooms .open", { hasText: "lobby" }).click();
});

test("the chatbot answers /help in the room", async (t) => {
  if (!env.bot) return t.skip("no examples/chatbot");
  await say(alice, "/help");
  for (const page of [alice, bob]) {
    await page
      .locator('[data-conv="room:lobby"] .msg.backend .name', { hasText: "bot" })
      .first()
      .waitFor({ state: "attached", timeout: TIMEOUT });
  }
});

test("a taken name is refused by the chatbot's nick request", async (t) => {
  if (!env.bot) return t.skip("no examples/chatbot");
  const page = await env.page("?name=alice&room=lobby");
  await page.locator("#welcome-error").waitFor({ timeout: TIMEOUT });
  assert.match(await page.locator("#welcome-error").textContent(), /alice/);
  await page.context().close();
});

test("a page joining later shows the room's recent history", async () => {
  await say(alice, "said before carol came");
  await see(bob, "room:lobby", "said before carol came");
  const carol = await env.page("?name=carol&room=lobby");
  await see(carol, "room:lobby", "said before carol came");
  await carol.locator('[data-conv="room:lobby"] .system', { hasText: "Recent history" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await lines(carol, "room:lobby", "said before carol came").count(), 1);
  await carol.context().close();
});

test("after a routerd restart both pages reconnect and rejoin by themselves", async () => {
  await env.restartRouterd();
  for (const page of [alice, bob]) {
    await page.locator('[data-conv="room:lobby"] .system', { hasText: "Reconnected" }).waitFor({ timeout: TIMEOUT });
    await page.waitForFunction(() => document.getElementById("status").dataset.state === "open", null, {
      timeout: TIMEOUT,
    });
  }
  await membersAre(alice, ["alice", "bob"]);
  await membersAre(bob, ["alice", "bob"]);
  await say(bob, "still here after the restart");
  await see(alice, "room:lobby", "still here after the restart");
  await say(alice, "me too");
  await see(bob, "room:lobby", "me too");
  // Rejoining with since replayed nothing twice.
  assert.equal(await lines(alice, "room:lobby", "said before carol came").count(), 1);
});
