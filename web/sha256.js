// An incremental SHA-256 (FIPS 180-4): the capture page hashes every chunk it sends, so
// that it can show which bytes the server received (compare with the recording). Web
// Crypto only hashes a whole buffer at once, and a session can last for hours. Checked
// against Go's crypto/sha256 by web's tests.
(function (root) {
  'use strict';

  const K = new Uint32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
  ]);
  const H0 = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

  const ror = (x, n) => (x >>> n) | (x << (32 - n));

  class Sha256 {
    constructor() {
      this.h = new Uint32Array(H0);
      this.buf = new Uint8Array(64); // a block not yet complete
      this.n = 0; // bytes in buf
      this.length = 0; // bytes hashed
      this.w = new Uint32Array(64);
    }

    // update hashes bytes (a Uint8Array or an ArrayBuffer) after those before.
    update(bytes) {
      const p = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
      this.length += p.length;
      let i = 0;
      if (this.n > 0) {
        i = Math.min(64 - this.n, p.length);
        this.buf.set(p.subarray(0, i), this.n);
        this.n += i;
        if (this.n < 64) return this;
        this.block(this.buf, 0);
        this.n = 0;
      }
      for (; i + 64 <= p.length; i += 64) this.block(p, i);
      if (i < p.length) {
        this.buf.set(p.subarray(i), 0);
        this.n = p.length - i;
      }
      return this;
    }

    block(p, off) {
      const w = this.w;
      for (let t = 0; t < 16; t++) {
        const j = off + 4 * t;
        w[t] = (p[j] << 24) | (p[j + 1] << 16) | (p[j + 2] << 8) | p[j + 3];
      }
      for (let t = 16; t < 64; t++) {
        const x = w[t - 15];
        const y = w[t - 2];
        const s0 = ror(x, 7) ^ ror(x, 18) ^ (x >>> 3);
        const s1 = ror(y, 17) ^ ror(y, 19) ^ (y >>> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
      }
      const h = this.h;
      let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (let t = 0; t < 64; t++) {
        const t1 = (k + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t]) | 0;
        const t2 = ((ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g;
        g = f;
        f = e;
        e = (d + t1) | 0;
        d = c;
        c = b;
        b = a;
        a = (t1 + t2) | 0;
      }
      h[0] += a;
      h[1] += b;
      h[2] += c;
      h[3] += d;
      h[4] += e;
      h[5] += f;
      h[6] += g;
      h[7] += k;
    }

    // hex returns the digest of the bytes so far, as lower-case hex; more may follow.
    hex() {
      const s = new Sha256();
      s.h.set(this.h);
      s.buf.set(this.buf);
      s.n = this.n;
      // 0x80, zeros up to 8 bytes short of a block, the length in bits (64-bit big-endian).
      const pad = new Uint8Array(((55 - this.n + 64) % 64) + 9);
      pad[0] = 0x80;
      const bits = this.length * 8;
      const tail = new DataView(pad.buffer, pad.length - 8);
      tail.setUint32(0, Math.floor(bits / 2 ** 32));
      tail.setUint32(4, bits >>> 0);
      s.update(pad);
      if (s.n !== 0) throw new Error('sha256: bad padding');
      return Array.from(s.h, (v) => v.toString(16).padStart(8, '0')).join('');
    }
  }

  const api = { Sha256 };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.svSha256 = api;
})(this);
