// Drives timecode.js for web's Go tests: reads a JSON request on stdin, writes the answer
// on stdout. For each case it draws the strip with timecode.draw on a fake 2D context
// into a luma plane, and decodes the Go-drawn plane it was given with decodeLuma and,
// as RGBA, with decodeRGBA.
'use strict';
const tc = require('../timecode.js');

let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  const req = JSON.parse(input);
  const out = req.cases.map((c) => {
    const { width, height, ms } = c;
    const plane = new Uint8Array(width * height);
    const ctx = {
      fillStyle: '',
      fillRect(x, y, w, h) {
        const v = this.fillStyle === '#fff' ? 255 : 0;
        for (let r = y; r < y + h; r++) plane.fill(v, r * width + x, r * width + x + w);
      },
    };
    let drawn = null;
    if (ms >= 0) {
      tc.draw(ctx, width, ms);
      drawn = Buffer.from(plane).toString('base64');
    }
    const goPlane = new Uint8Array(Buffer.from(c.plane, 'base64'));
    const rgba = new Uint8ClampedArray(width * height * 4);
    for (let i = 0; i < goPlane.length; i++) {
      rgba[4 * i] = rgba[4 * i + 1] = rgba[4 * i + 2] = goPlane[i];
      rgba[4 * i + 3] = 255;
    }
    return {
      drawn,
      decoded: tc.decodeLuma(goPlane, width, height, width),
      decodedRGBA: tc.decodeRGBA(rgba, width, height),
    };
  });
  process.stdout.write(JSON.stringify(out));
});
