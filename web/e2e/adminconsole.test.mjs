// Browser end-to-end test of routerd's admin console (admin.enabled): two
// clustered routerd processes, the console of n1 in headless Chromium,
// native clients on both nodes in pages of their own. Run with
// `bash web/e2e/run.sh` (or `node --test adminconsole.test.mjs` here after
// `npm ci`).

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { waitFor } from "./harness.mjs";
import { Cluster, login } from "./adminconsole.mjs";

/** TIMEOUT bounds every wait for something to show up on the page (ms). */
const TIMEOUT = 20000;

let cluster;
let admin; // the console's page, on n1
let c1; // a client on n1, in lobby
let c2; // a client on n2, in lobby

before(async () => {
  cluster = await Cluster.start();
  const [n1, n2] = cluster.nodes;
  c1 = await cluster.client(n1, { rooms: ["lobby"] });
  c2 = await cluster.client(n2, { rooms: ["lobby"] });
  admin = await cluster.page(`${n1.url}/admin`);
});

after(async () => {
  await cluster?.close();
});

/** row locates the table row of a socket in the sockets table. */
function socketRow(sid) {
  return admin.locator(`#sockets tbody tr[data-sid="${sid}"]`);
}

/** cell waits until a row's cell (0-based) has exactly that text. */
async function cellIs(row, i, text) {
  await waitFor(`${text} in cell ${i}`, async () => (await row.locator("td").nth(i).textContent()) === text, { timeout: TIMEOUT });
}

test("a wrong password is refused", async () => {
  await admin.locator("#login-form").waitFor({ timeout: TIMEOUT });
  await login(admin, "ann", "not the password");
  await admin.locator("#login-error", { hasText: "Login refused" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await admin.locator("#console").isHidden(), true);
  const status = await admin.evaluate(async () => (await fetch("api/session")).status);
  assert.equal(status, 401);
});

test("logging in shows both nodes, and their sockets and rooms as they come and go", async () => {
  await login(admin);
  await admin.locator("#console").waitFor({ timeout: TIMEOUT });
  assert.match(await admin.locator("#who").textContent(), /^ann · via n1$/);
  for (const name of ["n1", "n2"]) {
    const row = admin.locator(`#nodes tbody tr[data-node="${name}"]`);
    await cellIs(row, 5, "connected");
    await cellIs(row, 4, "1"); // sockets
  }

  await admin.locator('#namespaces tbody tr[data-ns="chat"]').click();
  const lobby = admin.locator('#rooms tbody tr[data-room="lobby"]');
  await cellIs(lobby, 1, "2");
  await lobby.click();
  await admin.locator("#sockets-title", { hasText: "Members of chat / lobby" }).waitFor({ timeout: TIMEOUT });
  for (const c of [c1, c2]) {
    const row = socketRow(c.sid);
    await cellIs(row, 3, c.node);
    await cellIs(row, 2, "native"); // from the socket's connect notice, which may come a moment later
    await cellIs(row, 4, "127.0.0.1");
    assert.match(await row.locator("td").nth(5).textContent(), /ago$/);
  }

  // A third socket, on n2, in lobby and in a room of its own: it shows up, then goes.
  const c3 = await cluster.client(cluster.nodes[1], { rooms: ["lobby", "side"] });
  await socketRow(c3.sid).waitFor({ timeout: TIMEOUT });
  await cellIs(lobby, 1, "3");
  const side = admin.locator('#rooms tbody tr[data-room="side"]');
  await cellIs(side, 1, "1");
  await cellIs(admin.locator('#nodes tbody tr[data-node="n2"]'), 4, "2");
  await c3.close();
  await socketRow(c3.sid).waitFor({ state: "detached", timeout: TIMEOUT });
  await side.waitFor({ state: "detached", timeout: TIMEOUT });
  await cellIs(lobby, 1, "2");
  await cellIs(admin.locator('#nodes tbody tr[data-node="n2"]'), 4, "1");
});

test("an action without the CSRF token is refused", async () => {
  const res = await admin.evaluate(async (sid) => {
    const r = await fetch("api/action", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ op: "disconnect", ns: "chat", sid }),
    });
    return { status: r.status, body: await r.json(), cookie: document.cookie };
  }, c2.sid);
  assert.equal(res.status, 403);
  assert.match(res.body.error.message, /X-CSRF-Token/);
  assert.doesNotMatch(res.cookie, /routerd_admin/); // HttpOnly: no script reads the session
  // The socket is still there (the next test disconnects it, and counts 1).
  await cellIs(socketRow(c2.sid), 3, "n2");
  assert.equal((await c2.frames()).some((f) => f.type === "disconnected"), false);
});

test("disconnecting a socket from the console disconnects its client", async () => {
  await admin.locator("#act-reason").fill("maintenance");
  await socketRow(c2.sid).locator('button[data-act="disconnect"]').click();
  await waitFor("c2's disconnected frame", async () => (await c2.frames()).find((f) => f.type === "disconnected"), { timeout: TIMEOUT });
  const frame = (await c2.frames()).find((f) => f.type === "disconnected");
  assert.deepEqual(frame, { type: "disconnected", ns: "chat", reason: "maintenance" });
  await admin.locator("#log li.ok", { hasText: `disconnect socket ${c2.sid}: 1 socket` }).waitFor({ timeout: TIMEOUT });
  await socketRow(c2.sid).waitFor({ state: "detached", timeout: TIMEOUT });
  assert.equal((await c1.frames()).some((f) => f.type === "disconnected"), false);
});
