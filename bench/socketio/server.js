// Socket.IO 4.8 chat-style server for the routerd comparison (bench/run.sh,
// docs/performance.md), driven by `routerbench -proto socketio`.
//
// A client emits "join" with a room (and an acknowledgement) and the server
// does socket.join(room); a client's "message" with a room and data is
// relayed to the room's other members with socket.to(room).emit("message",
// data), or to every member, sender included, with io.to(room) when the
// third argument is true (routerbench -self).
//
// GET /metrics exports the process's memory and CPU in the Prometheus text
// format, under the names routerd and prom-client use, so routerbench reads
// both servers the same way.
//
//   PORT=3000 NS=chat node server.js
"use strict";

const http = require("node:http");
const { Server } = require("socket.io");

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || "127.0.0.1";

const httpServer = http.createServer((req, res) => {
  if (req.url !== "/metrics") {
    res.writeHead(404).end();
    return;
  }
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  res.writeHead(200, { "Content-Type": "text/plain; version=0.0.4" });
  res.end(
    [
      `process_resident_memory_bytes ${mem.rss}`,
      `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
      `nodejs_heap_size_used_bytes ${mem.heapUsed}`,
      "",
    ].join("\n"),
  );
});

// Only the WebSocket transport: routerbench, like routerd's clients, speaks
// WebSocket from the start (no HTTP long-polling first).
const io = new Server(httpServer, { transports: ["websocket"], serveClient: false });
const nsp = io.of("/" + (process.env.NS || "chat"));

nsp.on("connection", (socket) => {
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack();
  });
  socket.on("message", (room, data, self) => {
    (self ? nsp : socket).to(room).emit("message", data);
  });
});

httpServer.listen(port, host, () => {
  console.log(`socket.io ${require("socket.io/package.json").version} on http://${host}:${port} (namespace ${nsp.name})`);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => io.close(() => process.exit(0)));
}
