// The viewer page: plays a live stream with dash.js in low-latency mode (or HLS with
// hls.js, or natively on Safari), shows its latency, buffer, bitrate and stalls, reads the
// capture timecode from the picture for the true glass-to-glass latency, and charts the
// analysis of sv frames when the stream has some.
//
// It polls /streams.json to know when the stream starts, ends and starts again (a new
// session: the publisher reconnected), and reloads the player by itself. A player that
// fails (a fatal error, or no picture long after it was loaded) is taken down, its error
// shown, and loaded again after a backoff while the stream is live: a reload helps with
// what went wrong on the way (a manifest that was not there yet, a lost connection),
// and the backoff keeps one that cannot help (media this browser refuses) from
// hammering the server.
(function () {
  'use strict';
  const { $, setText } = sv;

  const DASH_SCRIPT = 'assets/vendor/dash.all.min.js';
  const HLS_SCRIPT = 'assets/vendor/hls.min.js';
  const POLL = 1000; // ms between looks at /streams.json while a stream plays
  const POLL_SOON = 250; // ms between looks while waiting for one to start, for SOON ms
  const WAIT = 20; // s a look at a stream that is not live waits for it (/streams.json?wait)
  const SOON = 60000;
  const NORMAL_DELAY = 4; // s behind the live edge for normal-latency streams (see loadDash)
  const FROZEN = 8000; // a live stream whose picture has not moved for this long is reloaded
  const NO_START = 15000; // a player that has shown nothing this long after its load has failed
  const RETRY = [1000, 2000, 4000, 8000, 15000]; // ms before reloading a failed player, then 30 s
  const RETRY_MAX = 30000;
  const STABLE = 10000; // a load that plays this long resets the backoff
  // dash.js errors after which it plays no more (its other errors, a segment that could not
  // be fetched, it gets over by itself): no manifest, a manifest it cannot use, media this
  // browser cannot play, no init segment.
  const DASH_FATAL = new Set([10, 11, 23, 28, 31, 32, 34, 35]);
  const WINDOW = 60000; // ms of glass-to-glass samples kept for the statistics
  const VIEWER = Math.random().toString(36).slice(2, 10); // this page, for viewer counts
  // TOKEN (?token=) goes with every request for the stream when the server protects
  // watching it: /streams.json, the manifest (which the server answers with the token in
  // every URL it names) and the events.
  const TOKEN = sv.param('token', '');

  let video = $('video'); // replaced by a fresh element for each load
  const st = {
    stream: '',
    cfg: null,
    base: '', // the stream's folder, /live/NAME/ (from /config.json)
    urls: null, // its manifest, playlist and events (from /config.json)
    mode: 'auto',
    tech: '', // dash, hls.js, native
    dash: null,
    hls: null,
    session: null, // the session being played
    key: '',
    lowLatency: true, // the stream is low latency (serve's low_latency)
    phase: 'loading',
    ended: false,
    everPlayed: false,
    stalls: 0,
    stallMs: 0,
    stallStart: 0,
    lastProgress: 0, // performance.now() when currentTime last moved
    lastTime: 0,
    loads: 0,
    g2g: [], // [performance.now(), ms] over the last WINDOW
    drained: [], // [clock ms, glass-to-glass ms] not yet taken by takeSamples()/takeTimed()
    firstFrameAt: null, // clock ms at which the current load's first frame was shown
    lastG2G: NaN,
    tcFrames: 0,
    errors: [],
    loadedAt: 0, // performance.now() of the current load
    playedAt: 0, // performance.now() when the current load first played, 0 before
    failed: null, // the current load's failure: {message, session, retryAt}
    failures: 0, // failed loads in a row, for the backoff
    mediaRecoveredAt: 0, // performance.now() of hls.js's last recoverMediaError()
  };

  function overlay(text) {
    const el = $('overlay');
    el.hidden = !text;
    if (text) setText(el, text);
  }

  function setPhase(phase, text) {
    st.phase = phase;
    setText('state', text || phase);
    document.body.dataset.phase = phase;
  }

  // withKey adds the session to our media URLs: segment names repeat from one session
  // to the next, and the server marks segments immutable. It also adds this page's
  // viewer id, by which sv all counts its viewers.
  function withKey(url) {
    try {
      const u = new URL(url, location.href);
      if (u.origin === location.origin && u.pathname.startsWith(st.base) && st.key) {
        u.searchParams.set('s', st.key);
        u.searchParams.set('v', VIEWER);
        if (TOKEN) u.searchParams.set('token', TOKEN);
        return u.href;
      }
    } catch (e) {
      // not a URL we know: leave it
    }
    return url;
  }

  function destroy() {
    if (st.dash) {
      // Catch-up off first: dash.js 5 otherwise sets the rate of a detached element.
      st.dash.updateSettings({ streaming: { liveCatchup: { enabled: false } } });
      video.pause();
      st.dash.reset();
      st.dash = null;
    }
    if (st.hls) {
      st.hls.destroy();
      st.hls = null;
    }
    if (st.tech === 'native') {
      video.removeAttribute('src');
      video.load();
    }
    if (st.tech) replaceVideo();
    st.tech = '';
  }

  // replaceVideo puts a fresh element in place of the video: a player that was reset may
  // still hold callbacks on the old one (dash.js 5 sets its playbackRate when it becomes
  // ready), which must not fire on the next player's element.
  function replaceVideo() {
    const fresh = video.cloneNode(false);
    fresh.muted = video.muted;
    fresh.volume = video.volume;
    video.replaceWith(fresh);
    video = fresh;
    watchVideo(fresh);
  }

  function chooseTech(info) {
    const mse = !!(window.MediaSource || window.ManagedMediaSource);
    const nativeHLS = video.canPlayType('application/vnd.apple.mpegurl') !== '';
    if (st.mode === 'hls' || !info.dash || (!mse && nativeHLS)) {
      return mse ? 'hls.js' : 'native';
    }
    return 'dash';
  }

  // normalDelay is how far behind the live edge a normal-latency stream is played, in s.
  function normalDelay() {
    const d = Number(sv.param('delay', NORMAL_DELAY));
    return Number.isFinite(d) && d >= 0 ? d : NORMAL_DELAY;
  }

  async function load(info) {
    destroy();
    st.session = info.session;
    st.lowLatency = !!info.low_latency;
    st.key = (info.session || '').replace(/[^0-9A-Za-z]/g, '');
    st.ended = false;
    st.firstFrameAt = null;
    st.loads++;
    st.lastProgress = performance.now();
    st.loadedAt = performance.now();
    st.playedAt = 0;
    st.failed = null;
    const tech = chooseTech(info);
    setPhase('loading', 'loading ' + tech);
    overlay('starting…');
    try {
      if (tech === 'dash') await loadDash();
      else if (tech === 'hls.js') await loadHls();
      else loadNative();
      st.tech = tech;
      setText('player', tech === 'dash' ? 'dash.js ' + dashjs.Version : tech === 'hls.js' ? 'hls.js ' + Hls.version : 'native HLS');
    } catch (e) {
      fail(e.message || String(e));
    }
  }

  function noteError(msg) {
    st.errors.push(msg);
    if (st.errors.length > 20) st.errors.shift();
  }

  // fail takes a failed player down, shows why, and sets when to load it again.
  function fail(message) {
    if (st.failed) return;
    const base = st.failures < RETRY.length ? RETRY[st.failures] : RETRY_MAX;
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    st.failures++;
    st.failed = { message, session: st.session, retryAt: performance.now() + delay };
    destroy();
    setPhase('failed', 'the player failed: ' + message);
    showFailure();
  }

  function showFailure() {
    const f = st.failed;
    if (!f) return;
    const left = Math.max(0, Math.ceil((f.retryAt - performance.now()) / 1000));
    overlay('cannot play: ' + f.message + (st.ended ? '' : ' · trying again in ' + left + ' s'));
  }

  async function loadDash() {
    await sv.loadScript(DASH_SCRIPT);
    const p = dashjs.MediaPlayer().create();
    // ?defaults=1: dash.js as it comes, for comparing with the settings below, but for
    // its clock: its default is a time server on the internet.
    if (sv.param('defaults', '') === '1') {
      p.updateSettings({ streaming: { utcSynchronization: { defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-xsdate:2014', value: new URL(st.cfg.time, location.href).href } } } });
    } else p.updateSettings({
      debug: { logLevel: 2 }, // errors only
      streaming: {
        // The MPD's ServiceDescription sets the target latency and catch-up rates.
        utcSynchronization: {
          // The MPD names its clock (sv dash --time-url); if that is not reachable from
          // here (another machine, 127.0.0.1), dash.js falls back to the page's server.
          defaultTimingSource: { scheme: 'urn:mpeg:dash:utc:http-xsdate:2014', value: new URL(st.cfg.time, location.href).href },
        },
        buffer: { bufferToKeep: 10, bufferTimeDefault: 4 },
      },
    });
    // A normal-latency presentation announces each segment only once it is written whole:
    // closer than two segments (sv dash's are 2 s) behind, dash.js runs dry every few
    // seconds and stalls its way back (BenchmarkGlassToGlass/normal-*).
    const delay = st.lowLatency ? Number(sv.param('delay', NaN)) : normalDelay();
    if (Number.isFinite(delay) && sv.param('defaults', '') !== '1') p.updateSettings({ streaming: { delay: { liveDelay: delay } } });
    p.addRequestInterceptor((req) => {
      req.url = withKey(req.url);
      return Promise.resolve(req);
    });
    p.on(dashjs.MediaPlayer.events.ERROR, (e) => {
      const msg = e.error ? e.error.message || String(e.error.code) : 'error';
      noteError(msg);
      if (p === st.dash && e.error && DASH_FATAL.has(e.error.code)) fail(msg);
    });
    p.initialize(video, withKey(st.urls.manifest), true);
    st.dash = p;
  }

  async function loadHls() {
    await sv.loadScript(HLS_SCRIPT);
    if (!Hls.isSupported()) throw new Error('hls.js is not supported here');
    // As with dash.js, a normal-latency stream is played normalDelay() behind its edge:
    // nearer, hls.js runs dry while a whole 2 s segment is being written.
    const sync = st.lowLatency ? 1.5 : normalDelay();
    const h = new Hls({
      lowLatencyMode: st.lowLatency,
      liveSyncDuration: sync,
      liveMaxLatencyDuration: sync + 4.5,
      maxLiveSyncPlaybackRate: 1.1,
      backBufferLength: 10,
      xhrSetup: (xhr, url) => xhr.open('GET', withKey(url), true),
    });
    h.on(Hls.Events.ERROR, (ev, data) => {
      noteError(data.details);
      if (!data.fatal || h !== st.hls) return;
      // A media error: hls.js's own recovery, once; again soon after, it has failed.
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && performance.now() - st.mediaRecoveredAt > STABLE) {
        st.mediaRecoveredAt = performance.now();
        h.recoverMediaError();
        return;
      }
      fail(data.details + (data.error && data.error.message ? ': ' + data.error.message : ''));
    });
    h.loadSource(st.urls.playlist);
    h.attachMedia(video);
    st.hls = h;
  }

  function loadNative() {
    video.src = withKey(st.urls.playlist);
    video.play().catch(() => {});
  }

  // watch follows the stream's state on the server, one look at a time.
  let watching = false;
  async function watch() {
    if (watching) return;
    watching = true;
    try {
      await look();
    } finally {
      watching = false;
    }
  }

  async function look() {
    let info = null;
    // With no stream playing, the server answers once the stream is live (or after
    // WAIT s): the player loads the moment the manifest is there, not at the next poll.
    const wait = !st.tech || st.ended ? '&wait=' + WAIT : '';
    try {
      const token = TOKEN ? '&token=' + encodeURIComponent(TOKEN) : '';
      const r = await fetch('streams.json?stream=' + encodeURIComponent(st.stream) + wait + token, { cache: 'no-store' });
      const list = (await r.json()).streams || [];
      info = list.find((s) => s.name === st.stream) || null;
    } catch (e) {
      setPhase('offline', 'cannot reach the server');
      return;
    }
    if (info && !document.body.classList.contains('embed')) analysis.start();
    const playable = info && (info.dash || info.hls);
    if (!playable) {
      // Gone (a new session is setting up its folder, or it was deleted): stop asking
      // for its segments.
      if (st.tech) {
        destroy();
        st.session = null;
      }
      setPhase('waiting', 'waiting for the stream');
      overlay('waiting for stream “' + st.stream + '” to start…');
      return;
    }
    if (st.failed && info.live && info.session === st.failed.session && performance.now() < st.failed.retryAt) {
      return; // a failed player waits for its backoff, unless a new session comes
    }
    if (info.live && (info.session !== st.session || st.failed)) {
      // A new presentation. Low latency: load it at once (its MPD is written with its
      // first frames). Normal latency: wait until it is as old as the delay the viewer
      // keeps behind it; loaded sooner, dash.js starts at the first segment, nearer the
      // edge than the delay, and stalls each time it runs dry.
      const age = sv.clock.now() - Date.parse(info.session);
      const defaults = sv.param('defaults', '') === '1';
      if (!info.low_latency && !defaults && age < 1000 * normalDelay()) {
        setPhase('starting', 'the stream is starting');
        return;
      }
      load(info);
      return;
    }
    if (!info.live) {
      if (st.failed && !st.ended) {
        st.ended = true; // nothing to try again: show the error without a countdown
        showFailure();
      } else if (st.tech && info.session === st.session && !st.ended) {
        st.ended = true;
        setPhase('ended', 'ended; waiting for the stream to start again');
      } else if (!st.tech) {
        setPhase('waiting', 'not live; waiting for the stream to start');
        overlay('stream “' + st.stream + '” is not live; waiting for it to start…');
      }
      return;
    }
    // Live and loaded: a player whose picture has stopped for good, or that has nothing
    // to show long after its load, has failed. (Not so a picture the user paused, nor one
    // waiting for a click because autoplay was refused.)
    const now = performance.now();
    if (st.tech && st.playedAt && !video.paused && now - st.lastProgress > FROZEN) {
      fail('the picture has not moved for ' + Math.round((now - st.lastProgress) / 1000) + ' s');
    } else if (st.tech && !st.playedAt && video.readyState < HTMLMediaElement.HAVE_FUTURE_DATA && now - st.loadedAt > NO_START) {
      fail('nothing played ' + Math.round((now - st.loadedAt) / 1000) + ' s after loading');
    } else if (st.playedAt && now - st.playedAt > STABLE) {
      st.failures = 0;
    }
  }

  // TimecodeReader decodes the capture timecode of every frame the video presents.
  class TimecodeReader {
    constructor() {
      this.canvas = document.createElement('canvas');
      this.ctx = this.canvas.getContext('2d', { willReadFrequently: true });
      if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) {
        setInterval(() => { if (!video.paused) this.read(video, video.videoWidth, video.videoHeight, 0); }, 40);
      }
    }

    // watch follows the frames of one video element, for as long as it is the page's.
    watch(v) {
      if (!('requestVideoFrameCallback' in HTMLVideoElement.prototype)) return;
      const cb = (now, meta) => {
        if (v !== video) return;
        // The frame will be on screen at expectedDisplayTime (performance.now() time).
        if (st.firstFrameAt === null) st.firstFrameAt = sv.clock.now() + meta.expectedDisplayTime - performance.now();
        this.read(v, meta.width || v.videoWidth, meta.height || v.videoHeight, meta.expectedDisplayTime - performance.now());
        v.requestVideoFrameCallback(cb);
      };
      v.requestVideoFrameCallback(cb);
    }

    read(v, w, h, ahead) {
      if (!w || !h) return;
      const sh = svTimecode.stripHeight(w);
      if (this.canvas.width !== w || this.canvas.height !== sh) {
        this.canvas.width = w;
        this.canvas.height = sh;
      }
      this.ctx.drawImage(v, 0, 0, w, sh, 0, 0, w, sh);
      const ms = svTimecode.decodeRGBA(this.ctx.getImageData(0, 0, w, sh).data, w, sh);
      if (ms < 0) return;
      const shown = sv.clock.now() + ahead;
      const g2g = shown - ms;
      const t = performance.now();
      st.tcFrames++;
      st.lastG2G = g2g;
      st.g2g.push([t, g2g]);
      while (st.g2g.length && t - st.g2g[0][0] > WINDOW) st.g2g.shift();
      st.drained.push([Math.round(shown), Math.round(g2g)]);
      if (st.drained.length > 10000) st.drained.shift();
    }
  }
  let reader = null;

  function recentG2G(ms) {
    const now = performance.now();
    return st.g2g.filter(([t]) => now - t <= ms).map(([, v]) => v);
  }

  function bufferAhead() {
    const b = video.buffered;
    for (let i = 0; i < b.length; i++) {
      if (b.start(i) <= video.currentTime + 0.1 && video.currentTime <= b.end(i)) return b.end(i) - video.currentTime;
    }
    return 0;
  }

  function stats() {
    const q = video.getVideoPlaybackQuality ? video.getVideoPlaybackQuality() : null;
    const recent = recentG2G(30000);
    const s = {
      phase: st.phase,
      tech: st.tech,
      session: st.session,
      loads: st.loads,
      currentTime: video.currentTime,
      paused: video.paused,
      readyState: video.readyState,
      buffer: bufferAhead(),
      width: video.videoWidth,
      height: video.videoHeight,
      rate: video.playbackRate,
      stalls: st.stalls,
      stallMs: st.stallMs + (st.stallStart ? performance.now() - st.stallStart : 0),
      dropped: q ? q.droppedVideoFrames : 0,
      frames: q ? q.totalVideoFrames : 0,
      g2g: st.lastG2G,
      g2gMedian: sv.quantile(recent, 0.5),
      g2gP95: sv.quantile(recent, 0.95),
      tcFrames: st.tcFrames,
      firstFrameAt: st.firstFrameAt,
      latency: NaN,
      target: NaN,
      lowLatency: false,
      bitrate: NaN,
      offset: sv.clock.offset,
      errors: st.errors.slice(-5),
      failure: st.failed ? st.failed.message : null,
      failures: st.failures,
      analysis: { frames: analysis.frames.length, cuts: analysis.cuts.length, latency: analysis.latency },
    };
    if (st.dash) {
      try {
        s.latency = st.dash.getCurrentLiveLatency() * 1000;
        s.target = st.dash.getTargetLiveDelay() * 1000;
        s.lowLatency = st.dash.getLowLatencyModeEnabled();
        const rep = st.dash.getCurrentRepresentationForType('video');
        if (rep) s.bitrate = rep.bandwidth;
      } catch (e) {
        // not ready yet
      }
    } else if (st.hls) {
      s.latency = st.hls.latency * 1000;
      s.target = st.hls.targetLatency * 1000;
      const level = st.hls.levels && st.hls.levels[st.hls.currentLevel];
      if (level) s.bitrate = level.bitrate;
    }
    return s;
  }

  function show() {
    const s = stats();
    setText('latency', sv.formatSeconds(s.latency) + (s.lowLatency ? ' · low-latency mode' : ''));
    setText('g2g', Number.isFinite(s.g2g) ? sv.formatSeconds(s.g2g) : '– (needs the test clock’s timecode)');
    setText('g2g-stats', Number.isFinite(s.g2gMedian) ? sv.formatSeconds(s.g2gMedian) + ' / ' + sv.formatSeconds(s.g2gP95) + ' (last 30 s)' : '–');
    setText('target', sv.formatSeconds(s.target));
    setText('buffer', s.buffer.toFixed(2) + ' s');
    setText('bitrate', sv.formatBitrate(s.bitrate));
    setText('resolution', s.width ? s.width + '×' + s.height : '–');
    setText('frames', s.frames ? s.frames + ' shown, ' + s.dropped + ' dropped' : '–');
    setText('rate', s.rate.toFixed(2) + '×');
    setText('stalls', s.stalls + (s.stalls ? ' (' + (s.stallMs / 1000).toFixed(1) + ' s)' : ''));
    setText('offset', sv.clock.synced ? sv.clock.offset + ' ms' : '–');
    $('unmute').textContent = video.muted ? 'Unmute' : 'Mute';
    showFailure();
  }

  function watchVideo(v) {
    v.addEventListener('playing', () => {
      if (st.stallStart) {
        st.stallMs += performance.now() - st.stallStart;
        st.stallStart = 0;
      }
      st.everPlayed = true;
      if (!st.playedAt) st.playedAt = performance.now();
      overlay('');
      setPhase('playing', 'playing' + (st.tech ? ' (' + st.tech + ')' : ''));
    });
    v.addEventListener('waiting', () => {
      if (!st.everPlayed || st.stallStart) return;
      st.stalls++;
      st.stallStart = performance.now();
      setPhase('stalled', 'waiting for data');
    });
    v.addEventListener('error', () => {
      if (v !== video || !st.tech) return;
      const e = v.error;
      const msg = e ? (e.message || 'media error ' + e.code) : 'media error';
      noteError(msg);
      fail(msg);
    });
    v.addEventListener('timeupdate', () => {
      if (v.currentTime !== st.lastTime) {
        st.lastTime = v.currentTime;
        st.lastProgress = performance.now();
      }
    });
    // Autoplay muted; if even that is refused, a click starts it.
    v.addEventListener('canplay', () => {
      if (v.paused) v.play().catch(() => overlay('click to play'));
    });
    if (reader) reader.watch(v);
  }

  // Analysis: the motion and luma of the last 30 s of frames, scene cuts marked.
  const analysis = {
    frames: [], // [pts_ms, motion, luma]
    cuts: [], // pts_ms
    latency: NaN,
    es: null,
    drawing: false,
    // start opens the events of a stream that exists (the server refuses those of a
    // stream with no folder), unless they are open; a stream that went away closes them,
    // and the next look that finds it opens them again.
    start() {
      if (this.es) return;
      const es = new EventSource(st.urls.events);
      this.es = es;
      es.onerror = () => {
        if (es.readyState === EventSource.CLOSED && this.es === es) this.es = null;
      };
      es.onmessage = (ev) => {
        let r;
        try { r = JSON.parse(ev.data); } catch (e) { return; }
        if (r.type === 'frame') {
          this.frames.push([r.pts_ms, r.motion, r.luma]);
          if (Number.isFinite(r.latency_ms)) this.latency = r.latency_ms;
        } else if (r.type === 'scene_cut') {
          this.cuts.push(r.pts_ms);
        } else {
          return;
        }
        $('analysis').hidden = false;
        const last = this.frames.length ? this.frames[this.frames.length - 1][0] : 0;
        while (this.frames.length && (this.frames.length > 4000 || last - this.frames[0][0] > 60000)) this.frames.shift();
        while (this.cuts.length && last - this.cuts[0] > 60000) this.cuts.shift();
      };
      es.addEventListener('reset', () => {
        this.frames = [];
        this.cuts = [];
      });
      if (!this.drawing) setInterval(() => this.draw(), 500);
      this.drawing = true;
    },
    draw() {
      if ($('analysis').hidden || !this.frames.length) return;
      const c = $('chart');
      const ctx = c.getContext('2d');
      const w = c.width, h = c.height;
      const end = this.frames[this.frames.length - 1][0];
      const span = 30000;
      const x = (pts) => w - ((end - pts) / span) * w;
      ctx.clearRect(0, 0, w, h);
      ctx.fillStyle = '#0d1117';
      ctx.fillRect(0, 0, w, h);
      ctx.strokeStyle = '#f85149';
      ctx.lineWidth = 2;
      for (const cut of this.cuts) {
        if (end - cut > span) continue;
        ctx.beginPath();
        ctx.moveTo(x(cut), 0);
        ctx.lineTo(x(cut), h);
        ctx.stroke();
      }
      const shown = this.frames.filter((f) => end - f[0] <= span);
      const maxMotion = Math.max(0.02, ...shown.map((f) => f[1]));
      const line = (color, value) => {
        ctx.strokeStyle = color;
        ctx.lineWidth = 1.5;
        ctx.beginPath();
        shown.forEach((f, i) => {
          const y = h - 4 - value(f) * (h - 8);
          if (i) ctx.lineTo(x(f[0]), y);
          else ctx.moveTo(x(f[0]), y);
        });
        ctx.stroke();
      };
      line('#58a6ff', (f) => f[1] / maxMotion);
      line('#e3b341', (f) => f[2]);
      setText('analysis-latency', Number.isFinite(this.latency) ? 'analysis ' + sv.formatSeconds(this.latency) + ' behind capture' : '');
    },
  };

  // playRecording plays one of the stream's recordings (?recording=FILE, as
  // /recordings.json names it: its seekable copy, or the recording) on demand, with the
  // video's own controls for seeking.
  function playRecording(file) {
    if (!/^[0-9A-Za-z_-]+(\.seekable)?\.(webm|mp4|mkv)$/.test(file)) {
      setPhase('error', 'bad recording name');
      overlay('no such recording');
      return;
    }
    document.body.classList.add('recording');
    $('golive').hidden = true;
    $('mode').closest('label').hidden = true;
    setText('title', st.stream + ' · ' + file);
    document.title = 'sv · ' + st.stream + ' · ' + file;
    st.tech = 'recording';
    watchVideo(video);
    video.addEventListener('error', () => {
      const e = video.error;
      st.errors.push('recording: ' + (e ? e.message || 'error ' + e.code : 'error'));
      setPhase('error', 'cannot play the recording');
      overlay('cannot play the recording' + (e && e.message ? ': ' + e.message : ''));
    });
    video.controls = true;
    let src = 'recordings/' + encodeURIComponent(st.stream) + '/' + encodeURIComponent(file);
    if (TOKEN) src += '?token=' + encodeURIComponent(TOKEN);
    setPhase('starting', 'loading the recording');
    overlay('loading…');
    video.src = src;
    video.play().catch(() => {});
    setInterval(show, 500);
  }

  async function init() {
    // /embed: the player alone, filling its frame, with the video's own controls.
    if (location.pathname.endsWith('/embed')) {
      document.body.classList.add('embed');
      video.controls = true;
    }
    st.stream = sv.param('stream', 'cam');
    st.mode = sv.param('player', 'auto');
    $('mode').value = st.mode;
    if (!sv.validStream(st.stream)) {
      setPhase('error', 'bad stream name');
      overlay('a stream name is 1 to 64 of A-Z a-z 0-9 _ -');
      return;
    }
    setText('title', st.stream);
    document.title = 'sv · ' + st.stream;
    $('capture-link').href = 'capture?stream=' + encodeURIComponent(st.stream);
    $('unmute').onclick = () => {
      video.muted = !video.muted;
      if (!video.muted) video.volume = 1;
      video.play().catch(() => {});
    };
    $('golive').onclick = () => {
      const b = video.buffered;
      if (b.length) video.currentTime = Math.max(0, b.end(b.length - 1) - 0.3);
    };
    $('mode').onchange = () => {
      st.mode = $('mode').value;
      st.session = null; // reload with the new player on the next poll
      st.failed = null; // at once: another player may well play
      st.failures = 0;
      destroy();
    };
    $('overlay').addEventListener('click', () => video.play().catch(() => {}));
    const recording = sv.param('recording', '');
    if (recording) {
      playRecording(recording);
      return;
    }
    // The player most streams get is fetched and compiled now, while the page waits for
    // the stream, not after it starts: a third of a second of the time to first frame.
    const likely = { dash: DASH_SCRIPT, 'hls.js': HLS_SCRIPT }[chooseTech({ dash: true })];
    if (likely) sv.loadScript(likely).catch(() => {});
    reader = new TimecodeReader();
    watchVideo(video);
    try {
      st.cfg = await sv.config();
    } catch (e) {
      setPhase('error', e.message);
      overlay('cannot read the server configuration');
      return;
    }
    st.base = sv.fill(st.cfg.media, st.stream);
    const token = (url) => (TOKEN ? url + (url.includes('?') ? '&' : '?') + 'token=' + encodeURIComponent(TOKEN) : url);
    st.urls = {
      manifest: token(sv.fill(st.cfg.manifest, st.stream)),
      playlist: token(sv.fill(st.cfg.playlist, st.stream)),
      events: token(sv.fill(st.cfg.events, st.stream)),
    };
    await sv.clock.sync(st.cfg.time);
    sv.clock.keep(st.cfg.time);
    // Waiting for a stream, look more often for a while: the first frame comes sooner.
    let waitingSince = performance.now();
    const poll = async () => {
      await watch();
      const waiting = !st.tech || st.phase === 'waiting' || st.phase === 'starting';
      if (!waiting) waitingSince = 0;
      else if (!waitingSince) waitingSince = performance.now();
      setTimeout(poll, waiting && performance.now() - waitingSince < SOON ? POLL_SOON : POLL);
    };
    poll();
    setInterval(show, 500);
  }

  // For tests and dashboards.
  window.svViewer = {
    stats,
    // takeSamples returns the glass-to-glass latencies (ms) decoded since the last call.
    takeSamples: () => st.drained.splice(0).map((d) => d[1]),
    // takeTimed is takeSamples with the time each frame was shown: [[clock ms, ms], ...].
    takeTimed: () => st.drained.splice(0),
  };

  init();
})();
