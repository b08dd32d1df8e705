// Drives sha256.js for web's Go tests: reads a JSON request on stdin, writes the answer on
// stdout. Each case is bytes (base64) to hash in chunks of the given sizes, the rest at
// the end; the answer is the digest in hex, taken once in the middle (which must not
// change the result) and once at the end.
'use strict';
const { Sha256 } = require('../sha256.js');

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const out = req.cases.map((c) => {
    const data = new Uint8Array(Buffer.from(c.data, 'base64'));
    const h = new Sha256();
    let off = 0;
    for (const n of c.chunks || []) {
      h.update(data.subarray(off, off + n));
      off += n;
      h.hex();
    }
    h.update(data.buffer.slice(data.byteOffset + off, data.byteOffset + data.length)); // an ArrayBuffer, as Blob.arrayBuffer() gives
    return h.hex();
  });
  process.stdout.write(JSON.stringify(out));
});
