// Makes docs/admin-console.png: the admin console of a two-node cluster
// with clients on both nodes chatting in a few rooms and asking the chat
// bot for nicknames (acked requests), seen with the lobby selected. Run
// with `node adminconsole-screenshot.mjs` here after `npm ci` (or through
// run.sh's environment: Chromium at /usr/bin/chromium).

import path from "node:path";
import { Proc, repo, waitFor } from "./harness.mjs";
import { Cluster, login } from "./adminconsole.mjs";

const out = path.join(repo, "docs/admin-console.png");
const cluster = await Cluster.start();
try {
  const [n1, n2] = cluster.nodes;
  const env = cluster.env;
  const bot = new Proc("chatbot", env.chatbotBin, ["-nats", env.natsURL], path.join(env.dir, "chatbot.log"));
  await waitFor("the chatbot ready", () => bot.log().includes("chatbot ready"));
  try {
    const people = [
      [n1, "alice", ["lobby", "support"]],
      [n1, "dave", ["lobby"]],
      [n2, "bob", ["lobby", "ops"]],
      [n2, "carol", ["lobby", "support"]],
      [n2, "erin", ["ops"]],
    ];
    for (const [node, name, rooms] of people) {
      const c = await cluster.client(node, { rooms });
      // Chat in the rooms, and ask the bot for the nickname now and then.
      await c.page.evaluate(
        ({ name, rooms }) => {
          let id = 1000;
          setInterval(() => {
            const room = rooms[Math.floor(Math.random() * rooms.length)];
            window.__ws.send(JSON.stringify({ type: "emit", ns: "chat", room, event: "message", data: { name, text: `status ${Date.now() % 1000}` } }));
          }, 300 + Math.random() * 500);
          setInterval(() => window.__ws.send(JSON.stringify({ type: "emit", ns: "chat", event: "nick", data: { name }, id: ++id })), 700);
        },
        { name, rooms },
      );
    }
    const admin = await cluster.page(`${n1.url}/admin`, { width: 1280, height: 1000 });
    await login(admin);
    await admin.locator('#namespaces tbody tr[data-ns="chat"]').click();
    await admin.locator('#rooms tbody tr[data-room="lobby"]').click();
    await admin.locator("#sockets tbody tr").nth(3).waitFor();
    await waitFor("a minute of charts", async () => (await admin.evaluate(() => document.querySelector("#chart-deliveries path")?.getAttribute("d")?.split("L").length ?? 0)) >= 55, {
      timeout: 90000,
    });
    await admin.locator("#act-room").fill("support");
    const first = admin.locator("#sockets tbody tr").first();
    await first.locator('button[data-act="join"]').click();
    await admin.locator("#log li").first().waitFor();
    await waitFor("the socket in support", async () => (await first.locator(".rooms-cell").textContent()).includes("support"));
    await admin.screenshot({ path: out, fullPage: true });
    console.log(`wrote ${out}`);
  } finally {
    await bot.stop();
  }
} finally {
  await cluster.close();
}
