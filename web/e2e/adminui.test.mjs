// Browser end-to-end test of routerd's side of the official Socket.IO Admin
// UI (admin.socketio_ui): the UI of the pinned @socket.io/admin-ui package,
// served by routerd, logs in to a two-node cluster in Chromium, lists the
// Socket.IO and native sockets of both nodes, and disconnects one.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Cluster } from "./adminui.mjs";
import { waitFor } from "./harness.mjs";

const TIMEOUT = 20000;

let cluster;

before(async () => {
  cluster = await Cluster.start();
});

after(async () => {
  await cluster?.close();
});

/** row is the sockets table's row of sid. */
function row(ui, sid) {
  return ui.locator("tbody tr", { hasText: sid });
}

test("the Admin UI lists the sockets of both nodes and disconnects one", async () => {
  const { n1, n2 } = cluster;
  const alice = await cluster.socketio(n1, {}, ["lobby"]); // long-polling, then the upgrade
  const bob = await cluster.socketio(n2, { transports: ["websocket"] });
  const carol = await cluster.native(n2, "chat", ["lobby"]);

  const ui = await cluster.adminUI(n1);
  await cluster.login(ui, n1, "not the password");
  await ui.getByText("Invalid credentials").waitFor({ timeout: TIMEOUT });
  await cluster.login(ui, n1);

  // Both nodes report their stats.
  await ui.getByRole("navigation").getByRole("link", { name: "Servers" }).click();
  for (const n of [n1, n2]) await ui.locator("tbody tr", { hasText: n.name }).first().waitFor({ timeout: TIMEOUT });

  // The sockets of both nodes, Socket.IO and native, under "/" (namespace chat).
  await ui.getByRole("navigation").getByRole("link", { name: "Sockets" }).click();
  for (const s of [alice, bob, carol]) await row(ui, s.sid).waitFor({ timeout: TIMEOUT });
  await row(ui, bob.sid).getByText("WebSocket").waitFor();
  await row(ui, alice.sid).getByText("WebSocket").waitFor({ timeout: TIMEOUT }); // upgraded

  // A socket's page tells its node and protocol.
  await row(ui, carol.sid).click();
  await ui.getByText(`"node": "${n2.name}"`).waitFor({ timeout: TIMEOUT });
  await ui.getByText(`"protocol": "routerd"`).waitFor();
  await ui.locator("td", { hasText: /^lobby$/ }).waitFor();
  await ui.goBack();

  // Disconnect bob (on n2) from the UI (served by n1). The click reaches
  // the row too: the UI opens bob's page, which sees it disconnected.
  await row(ui, bob.sid).getByRole("button").click();
  await waitFor("bob disconnected by the server", () => bob.page.evaluate(() => reasons.includes("io server disconnect")));
  await ui.getByText("disconnected", { exact: true }).first().waitFor({ timeout: TIMEOUT });
  await ui.getByRole("navigation").getByRole("link", { name: "Sockets" }).click();
  await row(ui, bob.sid).waitFor({ state: "detached", timeout: TIMEOUT }); // once bob's page slid away
  for (const s of [alice, carol]) assert.equal(await row(ui, s.sid).count(), 1, `${s.sid} is still listed`);
  assert.deepEqual(await alice.page.evaluate(() => reasons), [], "alice stays connected");
});
