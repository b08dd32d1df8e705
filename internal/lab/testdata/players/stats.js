// Measurement for the stock player pages, and nothing else: it never touches the player.
// It reads the capture time that the capture page's test clock draws into the picture
// (timecode.js, web's own decoder, served beside this file) from every frame the video
// presents, against the clock of the server that serves the stream (its /time, the clock
// the capture page draws), and counts what a viewer would notice: stalls, errors, the end.
//
// A page calls lab.watch(video) before it starts its player, reports the player's errors
// with lab.error (fatal) and lab.warn (recovered), and may set lab.info to a function
// returning what the player says of itself ({latency: s, lowLatency: bool, ...}), and may
// hand its debug log to lab.log (the tests show its last lines when a player fails). The lab
// reads window.stats() and drains window.takeTimed(); with ?report=ID in the page's
// address, the page also posts its stats to /report every second.
(function () {
  'use strict';

  const KEPT = 10000; // latencies kept by stats(), and by takeTimed() until drained

  const src = new URLSearchParams(location.search).get('src') || '';
  const st = {
    video: null,
    errors: [], // the last 50
    errorCount: 0,
    warnings: [],
    stalls: 0,
    stallMs: 0,
    stallStart: 0,
    everPlayed: false,
    ended: false,
    firstFrameAt: null, // server clock, ms: when the first frame was shown
    tcFrames: 0,
    lastCapture: null, // the capture time read from the latest frame, ms
    latencies: [], // glass-to-glass, ms, of every frame with a timecode
    drained: [], // [server clock ms when shown, glass-to-glass ms], not taken yet
    offset: 0, // server clock - this page's clock, ms
    rtt: Infinity, // of the /time request the offset comes from, ms
    synced: false,
  };

  function push(list, v, max) {
    list.push(v);
    if (list.length > max) list.shift();
  }

  function message(e) {
    if (typeof e === 'string') return e;
    if (e && e.message) return e.message;
    try { return JSON.stringify(e); } catch (x) { return String(e); }
  }

  // sync reads the server's clock a few times and keeps the offset of the fastest answer
  // so far: on a busy machine the first answers may be slow, and a slow answer's offset is
  // uncertain by up to half its round trip.
  async function sync() {
    let url;
    try {
      url = new URL('/time', src).href;
    } catch (e) {
      return;
    }
    let best = st.synced ? { rtt: st.rtt, offset: st.offset } : null;
    for (let i = 0; i < 5; i++) {
      try {
        const t0 = performance.now();
        const local0 = Date.now();
        const r = await fetch(url, { cache: 'no-store' });
        const server = Date.parse((await r.text()).trim());
        const rtt = performance.now() - t0;
        if (!r.ok || Number.isNaN(server)) continue;
        const offset = server + 0.5 - (local0 + rtt / 2);
        if (!best || rtt < best.rtt) best = { rtt, offset };
      } catch (e) {
        // a missed round
      }
    }
    if (best) {
      st.offset = Math.round(best.offset);
      st.rtt = best.rtt;
      st.synced = true;
    }
  }

  function now() { return Date.now() + st.offset; }

  const canvas = document.createElement('canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true });

  function read(v, w, h, ahead) {
    if (!w || !h) return;
    const sh = svTimecode.stripHeight(w);
    if (canvas.width !== w || canvas.height !== sh) {
      canvas.width = w;
      canvas.height = sh;
    }
    ctx.drawImage(v, 0, 0, w, sh, 0, 0, w, sh);
    const ms = svTimecode.decodeRGBA(ctx.getImageData(0, 0, w, sh).data, w, sh);
    if (ms < 0) return;
    const shown = now() + ahead;
    st.tcFrames++;
    st.lastCapture = ms;
    push(st.latencies, Math.round(shown - ms), KEPT);
    push(st.drained, [Math.round(shown), Math.round(shown - ms)], KEPT);
  }

  function watch(v) {
    st.video = v;
    v.addEventListener('playing', () => {
      if (st.stallStart) {
        st.stallMs += performance.now() - st.stallStart;
        st.stallStart = 0;
      }
      st.everPlayed = true;
    });
    v.addEventListener('waiting', () => {
      if (!st.everPlayed || st.stallStart) return;
      st.stalls++;
      st.stallStart = performance.now();
    });
    v.addEventListener('ended', () => { st.ended = true; });
    v.addEventListener('error', () => {
      const e = v.error;
      lab.error('video element: ' + (e ? e.code + ' ' + e.message : 'error'));
    });
    const cb = (t, meta) => {
      // The frame will be on screen at expectedDisplayTime (performance.now() time).
      const ahead = meta.expectedDisplayTime - performance.now();
      if (st.firstFrameAt === null) st.firstFrameAt = now() + ahead;
      read(v, meta.width || v.videoWidth, meta.height || v.videoHeight, ahead);
      v.requestVideoFrameCallback(cb);
    };
    if ('requestVideoFrameCallback' in HTMLVideoElement.prototype) v.requestVideoFrameCallback(cb);
    else setInterval(() => { if (!v.paused) read(v, v.videoWidth, v.videoHeight, 0); }, 33);
  }

  function played(v) {
    let s = 0;
    for (let i = 0; i < v.played.length; i++) s += v.played.end(i) - v.played.start(i);
    return s;
  }

  // audioOf says whether the video has played audio, where the browser tells: Chromium
  // counts the audio it decoded, Firefox says whether the media has audio. null elsewhere.
  function audioOf(v) {
    if ('webkitAudioDecodedByteCount' in v) return v.webkitAudioDecodedByteCount > 0;
    if ('mozHasAudio' in v) return v.mozHasAudio;
    return null;
  }

  function stats() {
    const v = st.video;
    let info = {};
    try {
      info = (lab.info && lab.info()) || {};
    } catch (e) {
      // the player is not ready to say
    }
    const latency = Number(info.latency);
    return {
      player: info.player || '',
      version: info.version || '',
      currentTime: v ? v.currentTime : 0,
      played: v ? played(v) : 0,
      paused: v ? v.paused : true,
      readyState: v ? v.readyState : 0,
      stalls: st.stalls,
      stallMs: st.stallMs + (st.stallStart ? performance.now() - st.stallStart : 0),
      errors: st.errors.slice(),
      errorCount: st.errorCount,
      warnings: st.warnings.slice(-20),
      ended: st.ended,
      firstFrameAt: st.firstFrameAt,
      tcFrames: st.tcFrames,
      lastCapture: st.lastCapture,
      now: now(),
      synced: st.synced,
      offset: st.offset,
      rtt: Number.isFinite(st.rtt) ? st.rtt : null,
      latencies: st.latencies.slice(),
      audio: v ? audioOf(v) : null,
      latency: Number.isFinite(latency) ? latency * 1000 : null,
      lowLatency: !!info.lowLatency,
      parts: info.parts || 0,
    };
  }

  const lab = {
    src,
    info: null,
    watch,
    error: (e) => {
      st.errorCount++;
      push(st.errors, message(e), 50);
    },
    warn: (e) => push(st.warnings, message(e), 200),
    // log keeps the last lines of a player's own debug log, with the page's time in s, for
    // a test to show when the player did not do what it should (window.playerLog()).
    log: (level, args) => push(debugLog, (performance.now() / 1000).toFixed(3) + ' ' + level + ' ' +
      Array.prototype.map.call(args, message).join(' '), 2000),
  };
  const debugLog = [];
  window.playerLog = () => debugLog.slice();
  window.lab = lab;
  window.stats = stats;
  // takeTimed returns the frames decoded since the last call: [[server ms shown, ms], ...].
  window.takeTimed = () => st.drained.splice(0);
  window.addEventListener('error', (e) => lab.error('page: ' + e.message));
  window.addEventListener('unhandledrejection', (e) => lab.error('page: ' + message(e.reason)));
  sync();
  setInterval(sync, 5000);

  // ?report=ID: the page posts its stats every second, for a browser the lab cannot drive.
  const report = new URLSearchParams(location.search).get('report');
  if (report) {
    setInterval(() => {
      fetch('/report?id=' + encodeURIComponent(report), { method: 'POST', body: JSON.stringify(stats()) }).catch(() => {});
    }, 1000);
  }
})();
