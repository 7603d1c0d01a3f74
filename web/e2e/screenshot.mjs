// Makes docs/chat.png: a short conversation between two pages and the
// chatbot, seen from alice's page. Run with `node screenshot.mjs` here after
// `npm ci` (or through run.sh's environment: Chromium at /usr/bin/chromium).

import path from "node:path";
import { Env, repo, say, seen } from "./harness.mjs";

const out = path.join(repo, "docs/chat.png");
const env = await Env.start();
try {
  const alice = await env.page("?name=alice&room=lobby&room=ops");
  const bob = await env.page("?name=bob&room=lobby");
  await seen(alice, "#members .who", "bob");
  await alice.locator("#rooms .open", { hasText: "lobby" }).click();
  await say(alice, "Morning bob! Did the 2.4 deploy go out?");
  await seen(bob, '[data-conv="room:lobby"] .text', "2.4 deploy");
  await say(bob, "Yes, ten minutes ago. Dashboards look calm.");
  await say(bob, "Rooms, presence and acks all going through NATS now.");
  await seen(alice, '[data-conv="room:lobby"] .text', "through NATS");
  if (env.bot) {
    await say(alice, "/who");
    await seen(alice, '[data-conv="room:lobby"] .msg.backend .text', "");
  }
  await say(alice, "Great work. Lunch at noon?");
  await seen(bob, '[data-conv="room:lobby"] .text', "Lunch");
  await bob.locator("#members button.member-row", { hasText: "alice" }).click();
  await say(bob, "Sure, the usual place?");
  await seen(alice, "#dms .conv", "bob");
  await alice.locator("#text").focus();
  await alice.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await env.close();
}
