// The capture timecode strip: the capture time in milliseconds since the Unix epoch as
// 64 black or white blocks across the top of the picture. The layout is package frames'
// (frames.DrawTimecode, frames.DecodeTimecode); this is the same encoder and decoder in
// JavaScript, checked against the Go one by web's tests.
//
//   block   0      1      2 .. 45          46 .. 61        62     63
//           white  black  ms, 44 bits MSB  CRC-16, 16 bits  black  white
//
// Block i covers columns [floor(i*W/64), floor((i+1)*W/64)) of the top floor(W/32) rows.
(function (root) {
  'use strict';

  const BLOCKS = 64;
  const MS_BITS = 44;
  const MAX_MS = 2 ** MS_BITS - 1;
  const MIN_LEVEL = 64; // white guards must be this much brighter than black ones

  // crc16 is CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) of ms as 6 big-endian bytes.
  function crc16(ms) {
    let crc = 0xffff;
    for (let i = 5; i >= 0; i--) {
      const byte = Math.floor(ms / 2 ** (8 * i)) % 256;
      crc ^= byte << 8;
      for (let b = 0; b < 8; b++) {
        crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
      }
    }
    return crc;
  }

  // bits returns the 64 blocks for ms, 1 for white, block 0 first.
  function bits(ms) {
    if (!Number.isInteger(ms) || ms < 0 || ms > MAX_MS) {
      throw new RangeError('timecode: time out of range: ' + ms);
    }
    const out = new Array(BLOCKS).fill(0);
    out[0] = 1;
    for (let i = 0; i < MS_BITS; i++) {
      out[2 + i] = Math.floor(ms / 2 ** (MS_BITS - 1 - i)) % 2;
    }
    const crc = crc16(ms);
    for (let i = 0; i < 16; i++) {
      out[46 + i] = (crc >> (15 - i)) & 1;
    }
    out[63] = 1;
    return out;
  }

  function blockX(i, width) { return Math.floor((i * width) / BLOCKS); }
  function stripHeight(width) { return Math.floor(width / 32); }

  // draw paints the strip for ms at the top of a 2D canvas context width pixels wide.
  function draw(ctx, width, ms) {
    const b = bits(ms);
    const h = stripHeight(width);
    for (let i = 0; i < BLOCKS; i++) {
      ctx.fillStyle = b[i] ? '#fff' : '#000';
      ctx.fillRect(blockX(i, width), 0, blockX(i + 1, width) - blockX(i, width), h);
    }
  }

  // decodeLuma reads a strip from a luma plane (one byte per pixel, 0 black, 255 white)
  // of width x height with rows stride bytes apart. It returns the time in ms, or -1
  // when the picture carries no strip it can read with certainty.
  function decodeLuma(y, width, height, stride) {
    const sh = stripHeight(width);
    if (width < BLOCKS || height < sh || stride < width || y.length < (sh - 1) * stride + width) {
      return -1;
    }
    const r0 = Math.floor(sh / 4), r1 = sh - Math.floor(sh / 4);
    const level = (i) => {
      let x0 = blockX(i, width), x1 = blockX(i + 1, width);
      const q = Math.floor((x1 - x0) / 4);
      x0 += q; x1 -= q;
      let sum = 0;
      for (let r = r0; r < r1; r++) {
        const row = r * stride;
        for (let x = x0; x < x1; x++) sum += y[row + x];
      }
      return Math.floor(sum / ((x1 - x0) * (r1 - r0)));
    };
    const white = Math.min(level(0), level(BLOCKS - 1));
    const black = Math.max(level(1), level(BLOCKS - 2));
    if (white - black < MIN_LEVEL) return -1;
    const mid = Math.floor((white + black) / 2), margin = Math.floor((white - black) / 6);
    const got = new Array(BLOCKS);
    for (let i = 0; i < BLOCKS; i++) {
      const v = level(i);
      if (v >= mid + margin) got[i] = 1;
      else if (v <= mid - margin) got[i] = 0;
      else return -1;
    }
    let ms = 0;
    for (let i = 0; i < MS_BITS; i++) ms = ms * 2 + got[2 + i];
    const want = bits(ms);
    for (let i = 0; i < BLOCKS; i++) {
      if (got[i] !== want[i]) return -1;
    }
    return ms;
  }

  // decodeRGBA reads a strip from RGBA pixels (ImageData.data) width wide, converting to
  // luma with the BT.601 weights.
  function decodeRGBA(data, width, height) {
    const sh = Math.min(stripHeight(width), height);
    const y = new Uint8Array(width * sh);
    for (let i = 0, p = 0; i < y.length; i++, p += 4) {
      y[i] = (77 * data[p] + 150 * data[p + 1] + 29 * data[p + 2]) >> 8;
    }
    return decodeLuma(y, width, sh, width);
  }

  const api = { BLOCKS, MAX_MS, bits, crc16, blockX, stripHeight, draw, decodeLuma, decodeRGBA };
  if (typeof module === 'object' && module.exports) module.exports = api;
  else root.svTimecode = api;
})(this);
