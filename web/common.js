// What every page shares: the server's configuration, the server's clock, small helpers.
(function (root) {
  'use strict';

  // config fetches /config.json once: where to publish, whether a token is needed, where
  // the clock and the media are (see serve.Config).
  let configPromise = null;
  function config() {
    if (!configPromise) {
      configPromise = fetch('config.json', { cache: 'no-store' }).then((r) => {
        if (!r.ok) throw new Error('config.json: HTTP ' + r.status);
        return r.json();
      });
      configPromise.catch(() => { configPromise = null; }); // try again next time
    }
    return configPromise;
  }

  // fill replaces the placeholders of a URL pattern from the config.
  function fill(pattern, stream) {
    return pattern
      .replaceAll('{ws}', location.protocol === 'https:' ? 'wss' : 'ws')
      .replaceAll('{hostname}', location.hostname.includes(':') ? '[' + location.hostname + ']' : location.hostname)
      .replaceAll('{host}', location.host)
      .replaceAll('{stream}', encodeURIComponent(stream));
  }

  // Clock keeps the offset of this page's clock to the server's (/time), so that a
  // timecode drawn on one machine is read against the same clock on another. Same
  // machine: the offset is ~0 and only costs a few requests.
  const clock = {
    offset: 0, // server time - local time, ms
    rtt: Infinity,
    synced: false,
    now() { return Date.now() + this.offset; },
    async sync(url, rounds) {
      let best = null;
      for (let i = 0; i < (rounds || 5); i++) {
        try {
          const t0 = performance.now();
          const local0 = Date.now();
          const r = await fetch(url, { cache: 'no-store' });
          const text = await r.text();
          const t1 = performance.now();
          const server = Date.parse(text.trim());
          if (!r.ok || Number.isNaN(server)) continue;
          const rtt = t1 - t0;
          // The server read its clock about halfway; /time has 1 ms resolution.
          const offset = server + 0.5 - (local0 + rtt / 2);
          if (!best || rtt < best.rtt) best = { rtt, offset };
        } catch (e) {
          // a missed round; the others count
        }
      }
      if (best) {
        this.offset = Math.round(best.offset);
        this.rtt = best.rtt;
        this.synced = true;
      }
      return this.synced;
    },
    // keep re-syncs every period ms.
    keep(url, period) {
      this.sync(url);
      setInterval(() => this.sync(url, 3), period || 60000);
    },
  };

  function param(name, fallback) {
    const v = new URLSearchParams(location.search).get(name);
    return v === null || v === '' ? fallback : v;
  }

  function validStream(name) { return /^[A-Za-z0-9_-]{1,64}$/.test(name); }

  function $(id) { return document.getElementById(id); }

  function setText(id, text) {
    const el = typeof id === 'string' ? $(id) : id;
    if (el && el.textContent !== text) el.textContent = text;
  }

  function formatBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
    if (n < 1024 * 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + ' MiB';
    return (n / 1024 / 1024 / 1024).toFixed(2) + ' GiB';
  }

  function formatBitrate(bps) {
    if (!Number.isFinite(bps)) return '–';
    if (bps < 1e6) return (bps / 1e3).toFixed(0) + ' kbit/s';
    return (bps / 1e6).toFixed(2) + ' Mbit/s';
  }

  function formatSeconds(ms) {
    if (!Number.isFinite(ms)) return '–';
    return (ms / 1000).toFixed(2) + ' s';
  }

  // quantile of a numeric array (q in 0..1), nearest rank; NaN when empty.
  function quantile(values, q) {
    if (!values.length) return NaN;
    const s = Float64Array.from(values).sort();
    return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
  }

  // loadScript adds a script of ours once; the players are loaded only when needed.
  const scripts = {};
  function loadScript(src) {
    if (!scripts[src]) {
      scripts[src] = new Promise((resolve, reject) => {
        const el = document.createElement('script');
        el.src = src;
        el.onload = resolve;
        el.onerror = () => { delete scripts[src]; reject(new Error('cannot load ' + src)); };
        document.head.appendChild(el);
      });
    }
    return scripts[src];
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  root.sv = { config, fill, clock, param, validStream, $, setText, formatBytes, formatBitrate, formatSeconds, quantile, loadScript, sleep };
})(this);
