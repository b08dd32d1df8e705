'use strict';
// node recv.js HOST:PORT receives one publisher's WebSocket stream, as sv recv does, and
// writes every binary message to stdout, written the way Node code that feeds FFmpeg's stdin
// commonly is: the ws package, and the socket paused while stdout is full, so that a slow
// consumer pushes back on the publisher instead of filling this process's memory.
const { WebSocketServer } = require('ws');

const addr = process.argv[2];
const colon = addr ? addr.lastIndexOf(':') : -1;
if (colon < 0) {
  console.error('usage: node recv.js HOST:PORT');
  process.exit(2);
}
const host = addr.slice(0, colon).replace(/^\[|\]$/g, '');
const port = Number(addr.slice(colon + 1));

const wss = new WebSocketServer({ host, port, maxPayload: 16 << 20 });
wss.on('error', (err) => {
  console.error('recv.js:', err.message);
  process.exit(1);
});
wss.once('connection', (ws) => {
  // One publisher, like sv recv: once it is gone, stop listening and let the pending
  // stdout writes drain before the process exits.
  wss.close();
  let paused = false;
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return;
    if (!process.stdout.write(data) && !paused) {
      paused = true;
      ws._socket.pause();
      process.stdout.once('drain', () => {
        paused = false;
        ws._socket.resume();
      });
    }
  });
  ws.on('error', (err) => {
    console.error('recv.js:', err.message);
    process.exitCode = 1;
  });
  ws.on('close', (code) => {
    if (code !== 1000 && code !== 1001) process.exitCode = 1;
  });
});
