// An echo server on Node.js `net`, the article's other example of a
// single-threaded event loop, as a peer of our echo task.
//
//   node peers/echo/node_echo.js [BACKLOG]
//
// Listens on 127.0.0.1 on an ephemeral port, prints one JSON line
// {"port": N, "loop": "node", "version": "..."} on stdout once it accepts
// connections, then echoes every byte on every connection until SIGTERM or
// SIGINT (exit 0). Nagle is off on every connection, as in our servers.
'use strict';
const net = require('net');

const backlog = process.argv.length > 2 ? Number(process.argv[2]) : 4096;
if (!Number.isInteger(backlog) || backlog < 1) {
  process.stderr.write(`node_echo: backlog ${process.argv[2]}: expected a positive integer\n`);
  process.exit(2);
}

const server = net.createServer({ noDelay: true }, (socket) => {
  socket.on('data', (data) => socket.write(data));
  // a client that resets its connection is not the server's failure
  socket.on('error', () => socket.destroy());
});

server.listen({ host: '127.0.0.1', port: 0, backlog }, () => {
  const line = { port: server.address().port, loop: 'node', version: 'node ' + process.version };
  process.stdout.write(JSON.stringify(line) + '\n');
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => process.exit(0));
}
