// The capture page: records the camera (or a test clock) with MediaRecorder and sends
// the chunks over a WebSocket to the ingest the server names in /config.json.
//
// One connection is one recorder session: the recorder starts when the socket is open
// (its first chunk carries the stream's header) and stops when the socket closes. A lost
// connection is retried with backoff, each time with a fresh recorder, so that the server
// always receives a whole stream from its first byte.
//
// Every session's bytes, as handed to the socket, are hashed (SHA-256): with
// svCapture.sentDigests() a test or a wary user compares what was sent with the server's
// recording of that session, byte for byte.
(function () {
  'use strict';
  const { $, setText } = sv;

  // Codec preference: H.264 in WebM (copied by sv dash, no transcoding), then VP8 and
  // VP9 in WebM, then MP4 (Safari). MP4 with Opus is left out: Chromium sends nothing
  // until stop().
  const MIME_AV = ['video/webm;codecs=h264,opus', 'video/webm;codecs=avc1,opus', 'video/webm;codecs=vp8,opus',
    'video/webm;codecs=vp9,opus', 'video/mp4;codecs=avc1.42E01F,mp4a.40.2', 'video/mp4'];
  const MIME_V = ['video/webm;codecs=h264', 'video/webm;codecs=avc1', 'video/webm;codecs=vp8',
    'video/webm;codecs=vp9', 'video/mp4;codecs=avc1.42E01F', 'video/mp4'];
  const BACKOFF = [500, 1000, 2000, 4000, 8000]; // ms, then 10 s; +-20 % jitter
  const STABLE = 10000; // a session this long resets the backoff
  const BACKLOG_WARN = 512 * 1024; // bytes, or 2 s of media, whichever is more
  const TAKEN_OVER = 4001; // close code: another publisher took the stream over (sv all --takeover)
  const STOPPED = 4002; // close code: the server's operator stopped the stream (sv all's API)
  // What a refusal means, by the status the ingest's preflight answers: the page stops
  // on these, as trying again cannot help; it retries only when the server cannot be
  // reached.
  const REFUSED = {
    400: 'the stream name is not valid',
    401: 'the key (token) is wrong or missing',
    403: 'this page\'s origin may not publish to this server',
    409: 'the stream is already live: another publisher has it',
    421: 'the server does not answer to this address (sv --allow-host)',
    503: 'the server is full or stopping',
  };
  const DIGESTS_KEPT = 100; // sessions whose digests svCapture.sentDigests() returns

  const st = {
    phase: 'idle',
    running: false,
    cfg: null,
    media: null, // the MediaStream being recorded
    clock: null, // the test clock, when source=clock
    ws: null,
    rec: null,
    mime: '',
    queued: 0, // bytes handed to the socket, all sessions
    sessions: 0,
    sent: [], // SentDigest of each session, the last DIGESTS_KEPT
    attempt: 0,
    retryTimer: 0,
    openedAt: 0,
    lastClose: '',
    refusal: null, // {status, reason}: why the server refused this page, which then stopped
    rate: [], // [time, bytes sent] samples
    bitrate: NaN,
    stopTimer: 0,
  };

  function settings() {
    const [w, h] = $('resolution').value.split('x').map(Number);
    return {
      stream: $('stream').value.trim(),
      token: $('token').value,
      source: $('source').value,
      camera: $('camera').value,
      mic: $('mic').value,
      width: w,
      height: h,
      fps: Number($('fps').value),
      codec: $('codec').value,
      timeslice: Math.min(1000, Math.max(100, Number($('timeslice').value) || 100)),
    };
  }

  function setPhase(phase, detail) {
    st.phase = phase;
    setText('state', detail ? phase + ' · ' + detail : phase);
    document.body.dataset.phase = phase;
    $('start').disabled = st.running;
    $('stop').disabled = !st.running;
  }

  function hint(text) {
    const el = $('hint');
    el.hidden = !text;
    setText(el, text || '');
  }

  // ingestURL fills the server's pattern, with the token as a query.
  function ingestURL(s) {
    let url = sv.fill(st.cfg.ingest, s.stream);
    if (s.token) url += (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(s.token);
    return url;
  }

  function chooseMime(s, hasAudio) {
    if (s.codec && MediaRecorder.isTypeSupported(s.codec)) return s.codec;
    const list = hasAudio ? MIME_AV : MIME_V;
    return list.find((m) => MediaRecorder.isTypeSupported(m)) || '';
  }

  function fillCodecs() {
    if (typeof MediaRecorder === 'undefined') return;
    const sel = $('codec');
    for (const m of [...MIME_AV, ...MIME_V]) {
      if (MediaRecorder.isTypeSupported(m)) sel.add(new Option(m, m));
    }
  }

  async function fillDevices() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return;
    const devices = await navigator.mediaDevices.enumerateDevices();
    for (const [id, kind] of [['camera', 'videoinput'], ['mic', 'audioinput']]) {
      const sel = $(id);
      const keep = sel.value;
      for (const o of [...sel.options]) if (o.value && o.value !== 'none') o.remove();
      devices.filter((d) => d.kind === kind && d.deviceId).forEach((d, i) => {
        sel.add(new Option(d.label || kind + ' ' + (i + 1), d.deviceId));
      });
      sel.value = [...sel.options].some((o) => o.value === keep) ? keep : '';
    }
  }

  // getMedia returns the stream to record: the camera and microphone, or the test clock.
  async function getMedia(s) {
    if (s.source === 'clock') {
      st.clock = new TestClock(s.width, s.height, s.fps, s.stream, s.mic !== 'none');
      return st.clock.stream;
    }
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      throw new Error(window.isSecureContext ? 'this browser cannot capture video'
        : 'the camera needs HTTPS (sv serve --tls self-signed) or a page on localhost');
    }
    const video = {
      width: { ideal: s.width }, height: { ideal: s.height }, frameRate: { ideal: s.fps },
    };
    if (s.camera) video.deviceId = { exact: s.camera };
    let audio = false;
    if (s.mic !== 'none') audio = s.mic ? { deviceId: { exact: s.mic } } : true;
    const media = await navigator.mediaDevices.getUserMedia({ video, audio });
    fillDevices().catch(() => {});
    return media;
  }

  async function start() {
    if (st.running) return;
    const s = settings();
    if (!sv.validStream(s.stream)) {
      hint('a stream name is 1 to 64 of A-Z a-z 0-9 _ -');
      return;
    }
    if (typeof MediaRecorder === 'undefined') {
      hint('this browser has no MediaRecorder');
      return;
    }
    hint('');
    st.running = true;
    st.refusal = null;
    st.startedAt = sv.clock.now();
    setPhase('starting');
    try {
      st.cfg = await sv.config();
      if (st.cfg.tokenRequired && !s.token) hint('the server wants a token: add one above, or ?token= to the address');
      st.media = await getMedia(s);
    } catch (e) {
      st.running = false;
      setPhase('error', e.message || String(e));
      hint(e.name === 'NotAllowedError' ? 'camera or microphone permission was refused' : e.message || String(e));
      return;
    }
    $('preview').srcObject = st.media;
    st.mime = chooseMime(s, st.media.getAudioTracks().length > 0);
    setText('mime', st.mime || 'browser default');
    $('view-link').href = 'view?stream=' + encodeURIComponent(s.stream);
    st.attempt = 0;
    connect();
  }

  // preflight asks the ingest whether this page may publish now (?preflight, answered
  // as the WebSocket upgrade would be, which a browser's WebSocket never tells a page).
  // It resolves to null when it may, or to {status, reason}; it rejects when the server
  // cannot be reached or does not answer preflights (an older sv recv).
  async function preflight(url) {
    const u = new URL(url.replace(/^ws/, 'http'));
    u.searchParams.set('preflight', '1');
    const r = await fetch(u, { cache: 'no-store' });
    if (r.status === 204 || r.status === 426) return null; // 426: no preflight here, try
    const reason = (await r.text()).trim();
    return { status: r.status, reason };
  }

  // refused stops the page for good: the server said no, and why.
  function refused(r) {
    st.running = false;
    st.refusal = r;
    clearTimeout(st.retryTimer);
    stopRecorder();
    releaseMedia();
    const what = REFUSED[r.status] || 'the server refused';
    setPhase('refused', what + ' (' + r.status + (r.reason ? ': ' + r.reason : '') + ')');
    hint(what);
  }

  async function connect() {
    if (!st.running) return;
    const s = settings();
    const url = ingestURL(s);
    setText('ingest', url.replace(/token=[^&]*/, 'token=…'));
    setPhase('connecting');
    let r = null;
    try {
      r = await preflight(url);
    } catch (e) {
      // Unreachable, or no answer: the WebSocket tries, and retries if it must.
    }
    if (!st.running) return;
    if (r && REFUSED[r.status]) {
      refused(r);
      return;
    }
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (e) {
      setPhase('error', e.message);
      retry();
      return;
    }
    ws.binaryType = 'arraybuffer';
    st.ws = ws;
    ws.onopen = () => {
      if (ws !== st.ws) return;
      st.sessions++;
      st.openedAt = performance.now();
      setText('sessions', String(st.sessions));
      st.sent.push(new SentDigest(st.sessions));
      if (st.sent.length > DIGESTS_KEPT) st.sent.shift();
      startRecorder(ws, s, st.sent[st.sent.length - 1]);
    };
    ws.onclose = (ev) => {
      if (ws !== st.ws) return;
      st.ws = null;
      stopRecorder();
      const opened = st.openedAt > 0;
      if (opened && performance.now() - st.openedAt > STABLE) st.attempt = 0;
      st.openedAt = 0;
      st.lastClose = ev.code + (ev.reason ? ' ' + ev.reason : '');
      setText('closed', st.lastClose + (opened ? '' : ' (not connected)'));
      if (!opened && st.running) {
        // Refused, or the server is unreachable: the preflight tells which.
        setPhase('reconnecting');
        preflight(ingestURL(settings())).then((r) => {
          if (!st.running) return;
          if (r && REFUSED[r.status]) refused(r);
          else retry();
        }, () => st.running && retry());
      } else if (ev.code === STOPPED) {
        st.running = false;
        releaseMedia();
        setPhase('stopped', 'the server\'s operator stopped this stream');
      } else if (ev.code === TAKEN_OVER) {
        // Another publisher has the stream now: reconnecting would take it back, and the
        // two would fight over it.
        st.running = false;
        releaseMedia();
        setPhase('stopped', 'another publisher took over this stream');
      } else if (st.running) {
        retry();
      } else {
        clearTimeout(st.stopTimer);
        setPhase('stopped', ev.code === 1000 ? 'stream saved by the server' : 'closed ' + st.lastClose);
      }
    };
  }

  function retry() {
    const base = st.attempt < BACKOFF.length ? BACKOFF[st.attempt] : 10000;
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    st.attempt++;
    setPhase('reconnecting', 'in ' + (delay / 1000).toFixed(1) + ' s');
    clearTimeout(st.retryTimer);
    st.retryTimer = setTimeout(connect, delay);
  }

  // SentDigest hashes the bytes of one session in the order they were handed to the
  // socket. A recorder's chunks are Blobs: each is read and hashed after the ones before.
  class SentDigest {
    constructor(session) {
      this.session = session;
      this.bytes = 0;
      this.chunks = 0;
      this.firstChunk = 0; // bytes: a tiny first chunk is how Chromium starts when slow
      this.hash = new svSha256.Sha256();
      this.error = null;
      this.done = Promise.resolve();
    }

    add(blob) {
      if (this.chunks++ === 0) this.firstChunk = blob.size;
      this.bytes += blob.size;
      this.done = this.done
        .then(() => blob.arrayBuffer())
        .then((b) => { if (!this.error) this.hash.update(b); })
        .catch((e) => { this.error = e.message || String(e); });
    }

    // result waits for the chunks handed over so far to be hashed.
    async result() {
      let done;
      do {
        done = this.done;
        await done;
      } while (done !== this.done); // chunks that came while waiting
      return {
        session: this.session,
        bytes: this.bytes,
        chunks: this.chunks,
        firstChunk: this.firstChunk,
        sha256: this.error ? null : this.hash.hex(),
        error: this.error,
      };
    }
  }

  function startRecorder(ws, s, digest) {
    let rec;
    try {
      rec = new MediaRecorder(st.media, {
        mimeType: st.mime || undefined,
        videoKeyFrameIntervalDuration: 1000, // a keyframe a second: sv dash cuts 1 s segments there
        videoBitsPerSecond: Math.round(s.width * s.height * s.fps * 0.1),
        audioBitsPerSecond: 64000,
      });
    } catch (e) {
      st.running = false;
      setPhase('error', 'cannot record ' + (st.mime || '') + ': ' + e.message);
      ws.close(1000);
      return;
    }
    // Chunks of this recorder go to this socket only, and only while it is open.
    rec.ondataavailable = (ev) => {
      if (ev.data.size > 0 && ws.readyState === WebSocket.OPEN) {
        ws.send(ev.data);
        st.queued += ev.data.size;
        digest.add(ev.data);
      }
    };
    rec.onstop = () => {
      if (st.running) return; // the connection ended: a new recorder comes with the next
      // The last chunk is queued: a normal close now tells the server the stream is whole.
      if (ws.readyState === WebSocket.OPEN) ws.close(1000, 'publisher stopped');
      releaseMedia();
    };
    rec.onerror = (ev) => {
      setText('closed', 'recorder error: ' + (ev.error ? ev.error.message : 'unknown'));
      if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    };
    st.rec = rec;
    rec.start(s.timeslice);
    setPhase('live', s.stream);
  }

  function stopRecorder() {
    if (st.rec && st.rec.state !== 'inactive') st.rec.stop();
    st.rec = null;
  }

  function stop() {
    if (!st.running) return;
    st.running = false;
    clearTimeout(st.retryTimer);
    const ws = st.ws;
    if (st.rec && st.rec.state !== 'inactive' && ws && ws.readyState === WebSocket.OPEN) {
      setPhase('stopping', 'sending the last chunk');
      st.rec.stop(); // onstop closes the socket after the last chunk and releases the media
      st.rec = null;
      st.stopTimer = setTimeout(() => { if (st.ws) st.ws.close(1000); }, 10000);
      return;
    }
    stopRecorder();
    if (ws) ws.close(1000);
    st.ws = null;
    releaseMedia();
    setPhase('stopped');
  }

  function releaseMedia() {
    if (st.clock) {
      st.clock.stop();
      st.clock = null;
    } else if (st.media) {
      st.media.getTracks().forEach((t) => t.stop());
    }
    st.media = null;
  }

  // Stats twice a second: bytes sent, bitrate over the last 2 s, backlog.
  function tick() {
    const ws = st.ws;
    const buffered = ws ? ws.bufferedAmount : 0;
    const sent = st.queued - buffered;
    const now = performance.now();
    st.rate.push([now, sent]);
    while (st.rate.length > 2 && now - st.rate[0][0] > 2000) st.rate.shift();
    const [t0, b0] = st.rate[0];
    st.bitrate = now > t0 ? ((sent - b0) * 8 * 1000) / (now - t0) : NaN;
    setText('sent', sv.formatBytes(sent));
    setText('bitrate', sv.formatBitrate(st.bitrate));
    setText('backlog', sv.formatBytes(buffered));
    const limit = Math.max(BACKLOG_WARN, (st.bitrate / 8) * 2);
    const warn = $('warning');
    const behind = buffered > limit;
    warn.hidden = !behind;
    if (behind) setText(warn, 'The server is falling behind: ' + sv.formatBytes(buffered) + ' waiting to be sent. Lower the resolution or check the network.');
    setText('offset', sv.clock.synced ? sv.clock.offset + ' ms (rtt ' + sv.clock.rtt.toFixed(1) + ' ms)' : '–');
  }

  // TestClock is a canvas that shows a human-readable clock and, at the top, the capture
  // time as a timecode strip (timecode.js), recorded like a camera; with a beep on every
  // second when audio is wanted.
  class TestClock {
    constructor(width, height, fps, label, audio) {
      this.w = width;
      this.h = height;
      this.fps = fps;
      this.label = label;
      this.frame = 0;
      this.canvas = document.createElement('canvas');
      this.canvas.width = width;
      this.canvas.height = height;
      this.ctx = this.canvas.getContext('2d', { alpha: false });
      this.draw();
      // captureStream(0) + requestFrame: each frame is captured right after it is drawn,
      // so the time in it is the time of capture. Chromium has requestFrame on the track
      // (CanvasCaptureMediaStreamTrack), Firefox on the stream (CanvasCaptureMediaStream);
      // only a browser with neither samples the canvas by itself, at fps at most (Firefox
      // did so at ~20 fps of 30).
      this.stream = this.canvas.captureStream(0);
      const track = this.stream.getVideoTracks()[0];
      const source = [track, this.stream].find((s) => typeof s.requestFrame === 'function');
      if (source) {
        this.requestFrame = () => source.requestFrame();
      } else {
        this.stream = this.canvas.captureStream(fps);
        this.requestFrame = () => {};
      }
      if (audio) this.startAudio();
      this.startTicker();
    }

    // The ticker runs in a worker: timers of a page in the background are throttled to
    // one a second, a worker's are not.
    startTicker() {
      const period = 1000 / this.fps;
      const onTick = () => {
        this.draw();
        this.requestFrame();
      };
      try {
        this.worker = new Worker('assets/ticker.js');
        this.worker.onmessage = onTick;
        this.worker.postMessage({ period });
      } catch (e) {
        const t0 = performance.now();
        let n = 0;
        const loop = () => {
          onTick();
          n++;
          this.timer = setTimeout(loop, Math.max(0, t0 + n * period - performance.now()));
        };
        loop();
      }
    }

    startAudio() {
      try {
        const ac = new AudioContext();
        const dest = ac.createMediaStreamDestination();
        const osc = ac.createOscillator();
        const gain = ac.createGain();
        osc.frequency.value = 1000;
        gain.gain.value = 0;
        osc.connect(gain).connect(dest);
        osc.start();
        this.audio = { ac, gain };
        this.stream.addTrack(dest.stream.getAudioTracks()[0]);
        ac.resume().catch(() => {});
      } catch (e) {
        this.audio = null;
      }
    }

    draw() {
      const { ctx, w, h } = this;
      const ms = Math.round(sv.clock.now());
      ctx.fillStyle = '#0b2340';
      ctx.fillRect(0, 0, w, h);
      // A bar sweeping the width once a second, and ten boxes for the tenths: jerks and
      // freezes show at a glance.
      const frac = (ms % 1000) / 1000;
      ctx.fillStyle = '#2f81f7';
      ctx.fillRect(Math.floor(frac * w) - 4, h * 0.82, 8, h * 0.1);
      const box = w / 10;
      for (let i = 0; i < 10; i++) {
        ctx.fillStyle = i === Math.floor(frac * 10) ? '#f0b429' : '#1d3b5e';
        ctx.fillRect(i * box + 4, h * 0.7, box - 8, h * 0.08);
      }
      const d = new Date(ms);
      const pad = (n, l) => String(n).padStart(l || 2, '0');
      const text = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + '.' + pad(d.getMilliseconds(), 3);
      ctx.fillStyle = '#fff';
      ctx.textAlign = 'center';
      ctx.textBaseline = 'middle';
      ctx.font = 'bold ' + Math.round(Math.min(h * 0.2, w / 8)) + 'px monospace';
      ctx.fillText(text, w / 2, h * 0.4);
      ctx.font = Math.round(Math.min(h * 0.055, w / 28)) + 'px sans-serif';
      ctx.fillText(this.label + ' · frame ' + this.frame + ' · ' + d.toISOString().slice(0, 10), w / 2, h * 0.58);
      svTimecode.draw(ctx, w, ms);
      this.frame++;
      if (this.audio) {
        // A 50 ms beep at each whole second of the same clock.
        const on = ms % 1000 < 50;
        this.audio.gain.gain.setTargetAtTime(on ? 0.3 : 0, this.audio.ac.currentTime, 0.002);
      }
    }

    stop() {
      if (this.worker) this.worker.terminate();
      clearTimeout(this.timer);
      this.stream.getTracks().forEach((t) => t.stop());
      if (this.audio) this.audio.ac.close();
    }
  }

  // restart applies changed settings to a running capture: a new session from scratch.
  async function restart() {
    if (!st.running) return;
    stop();
    for (let i = 0; i < 100 && st.phase !== 'stopped' && st.phase !== 'idle'; i++) await sv.sleep(100);
    start();
  }

  function init() {
    const p = (n, d) => sv.param(n, d);
    $('stream').value = p('stream', 'cam');
    $('token').value = p('token', '');
    const source = p('source', 'camera');
    $('source').value = source === 'clock' ? 'clock' : 'camera';
    if (p('resolution')) $('resolution').value = p('resolution');
    if (p('fps')) $('fps').value = p('fps');
    if (p('timeslice')) $('timeslice').value = p('timeslice');
    if (p('audio') === '0') $('mic').value = 'none';
    fillCodecs();
    if (p('codec')) $('codec').value = p('codec');
    $('view-link').href = 'view?stream=' + encodeURIComponent($('stream').value);
    $('start').onclick = start;
    $('stop').onclick = stop;
    $('settings').onsubmit = (e) => { e.preventDefault(); start(); };
    for (const id of ['source', 'camera', 'mic', 'resolution', 'fps', 'codec', 'timeslice']) {
      $(id).addEventListener('change', restart);
    }
    if (!window.isSecureContext && $('source').value === 'camera') {
      hint('This page is not a secure context: the camera needs HTTPS (sv serve --tls self-signed) or localhost. The test clock works anyway.');
    }
    fillDevices().catch(() => {});
    sv.config().then((cfg) => sv.clock.keep(cfg.time)).catch((e) => hint('cannot read the server configuration: ' + e.message));
    setInterval(tick, 500);
    setPhase('idle');
    if (p('autostart') === '1') {
      // The clock must be synced before the first timecode is drawn.
      sv.config().then((cfg) => sv.clock.sync(cfg.time)).finally(start);
    }
  }

  // dropSocket ends the connection as a network blip would, without stopping the capture:
  // the page reconnects by itself with a new session. Scripts cannot cut a WebSocket
  // without a close frame, so it closes with an application code (4000) that the server
  // takes as an abnormal end; the chunks already handed to the socket are sent first.
  function dropSocket() {
    if (!st.ws || st.ws.readyState !== WebSocket.OPEN) return false;
    st.ws.close(4000, 'dropped');
    return true;
  }

  // For kiosks and tests.
  window.svCapture = {
    start,
    stop,
    dropSocket,
    // sentDigests resolves to {session, bytes, chunks, firstChunk, sha256, error} for
    // each session (the last DIGESTS_KEPT): the SHA-256 of the bytes handed to its
    // socket, hex (null if a chunk could not be read: error says why).
    sentDigests: () => Promise.all(st.sent.map((d) => d.result())),
    // sentDigest resolves to that of the current or last session, or null before any.
    sentDigest: () => (st.sent.length ? st.sent[st.sent.length - 1].result() : Promise.resolve(null)),
    state: () => ({
      phase: st.phase,
      sessions: st.sessions,
      sent: st.queued - (st.ws ? st.ws.bufferedAmount : 0),
      buffered: st.ws ? st.ws.bufferedAmount : 0,
      bitrate: st.bitrate,
      mime: st.mime,
      lastClose: st.lastClose,
      // refusal is {status, reason} once the server refused the page, which stopped.
      refusal: st.refusal,
      offset: sv.clock.offset,
      // startedAt is when start() was called, on the server's clock (ms): the viewer's
      // firstFrameAt minus this is the time to first frame.
      startedAt: st.startedAt || null,
    }),
  };

  init();
})();
