// Browser end-to-end test of examples/socketio-chat: routerd runs the
// example's router.yaml (on free ports) and serves its page, which uses the
// official socket.io-client bundle from /socket.io/socket.io.js and io();
// two headless Chromium pages chat through routerd's Socket.IO endpoint.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Env } from "./harness.mjs";

const TIMEOUT = 20000;

let env;

before(async () => {
  env = await Env.start({
    args: (env) => [
      "-c", "examples/socketio-chat/router.yaml",
      "--http.listen", `127.0.0.1:${env.httpPort}`,
      "--nats.listen", `127.0.0.1:${env.natsPort}`,
    ],
  });
});

after(async () => {
  await env?.close();
});

/** see waits until the page lists a message with that text. */
function see(page, text) {
  return page.locator("#messages li", { hasText: text }).first().waitFor({ timeout: TIMEOUT });
}

test("two pages chat through routerd's Socket.IO endpoint, and upgrade to WebSocket", async () => {
  const ann = await env.page("");
  const bob = await env.page("");
  for (const page of [ann, bob]) await see(page, "connected as");
  await ann.locator("#input").fill("hello from ann");
  await ann.locator("#input").press("Enter");
  await see(bob, "hello from ann");
  await see(ann, "hello from ann"); // broadcast_all: the sender too
  await bob.waitForFunction(() => socket.io.engine.transport.name === "websocket", null, { timeout: TIMEOUT });
  const id = await bob.evaluate(() => socket.id);
  assert.match(id, /^[A-Za-z0-9_-]{22}$/, "socket.id is a routerd sid");
});
