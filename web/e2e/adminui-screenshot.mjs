// Makes docs/socketio-admin-ui.png: the official Socket.IO Admin UI's
// sockets page, served by n1 of a two-node cluster, listing the Socket.IO
// and native sockets of both nodes. Run with `node adminui-screenshot.mjs`
// here after `npm ci` (Chromium at /usr/bin/chromium, as run.sh installs).

import path from "node:path";
import { Cluster } from "./adminui.mjs";
import { repo } from "./harness.mjs";

const out = path.join(repo, "docs/socketio-admin-ui.png");
const cluster = await Cluster.start();
try {
  const { n1, n2 } = cluster;
  const sockets = [
    await cluster.socketio(n1, {}, ["lobby"]),
    await cluster.socketio(n1, { transports: ["polling"] }, ["support"]),
    await cluster.socketio(n2, { transports: ["websocket"] }, ["lobby", "support"]),
    await cluster.native(n2, "chat", ["lobby"]),
    await cluster.native(n1, "chat"),
  ];
  const ui = await cluster.adminUI(n1);
  await cluster.login(ui, n1);
  await ui.getByRole("navigation").getByRole("link", { name: "Sockets" }).click();
  for (const s of sockets) await ui.locator("tbody tr", { hasText: s.sid }).waitFor({ timeout: 20000 });
  // The first socket upgraded to WebSocket: the UI hears it at a server_stats.
  await ui.locator("tbody tr", { hasText: sockets[0].sid }).getByText("WebSocket").waitFor({ timeout: 20000 });
  await ui.mouse.move(0, 0);
  await ui.locator(".v-ripple__animation").waitFor({ state: "detached" }); // the click's ripple faded
  await ui.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await cluster.close();
}
