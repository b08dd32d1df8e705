// The index: the streams under the server's media root, refreshed every two seconds.
(function () {
  'use strict';
  const { $ } = sv;

  function ago(iso) {
    const s = (Date.now() - Date.parse(iso)) / 1000;
    if (!Number.isFinite(s)) return '–';
    if (s < 2) return 'now';
    if (s < 120) return Math.round(s) + ' s ago';
    if (s < 7200) return Math.round(s / 60) + ' min ago';
    return new Date(iso).toLocaleString();
  }

  function link(text, href) {
    const a = document.createElement('a');
    a.href = href;
    a.textContent = text;
    return a;
  }

  function cell(row, content) {
    const td = row.insertCell();
    if (typeof content === 'string') td.textContent = content;
    else if (content) td.append(...[].concat(content));
    return td;
  }

  async function refresh() {
    let streams = [];
    try {
      const r = await fetch('streams.json', { cache: 'no-store' });
      streams = (await r.json()).streams || [];
    } catch (e) {
      return;
    }
    const body = $('streams').tBodies[0];
    body.replaceChildren();
    for (const s of streams) {
      const row = body.insertRow();
      const q = '?stream=' + encodeURIComponent(s.name);
      cell(row, link(s.name, 'view' + q));
      const state = [s.live ? 'live' : 'ended', s.dash ? 'DASH' : '', s.hls ? 'HLS' : '', s.events ? 'analysis' : ''];
      cell(row, state.filter(Boolean).join(' · ')).className = s.live ? 'live' : '';
      cell(row, ago(s.updated));
      cell(row, [link('view', 'view' + q), ' ', link('capture', 'capture' + q)]);
    }
    $('empty').hidden = streams.length > 0;
  }

  // started is a recording's start, from its name ({UTC start}.webm).
  function started(file) {
    const m = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z/.exec(file);
    return m ? new Date(Date.UTC(+m[1], m[2] - 1, +m[3], +m[4], +m[5], +m[6])).toLocaleString() : file;
  }

  async function refreshRecordings() {
    let recs = [];
    try {
      const r = await fetch('recordings.json', { cache: 'no-store' });
      recs = (await r.json()).recordings || [];
    } catch (e) {
      return;
    }
    const body = $('recordings').tBodies[0];
    body.replaceChildren();
    for (const rec of recs) {
      const row = body.insertRow();
      cell(row, rec.stream);
      cell(row, started(rec.file));
      cell(row, sv.formatBytes(rec.size));
      const state = [rec.unfinished ? 'recording' : '', rec.seekable ? 'seekable' : '', rec.stored ? 'stored' : '', rec.local ? '' : 'in the store only'];
      cell(row, state.filter(Boolean).join(' · '));
      const play = rec.url.slice(rec.url.lastIndexOf('/') + 1);
      const q = '?stream=' + encodeURIComponent(rec.stream) + '&recording=' + encodeURIComponent(play);
      cell(row, [link('play', 'view' + q), ' ', link('download', 'recordings/' + encodeURIComponent(rec.stream) + '/' + encodeURIComponent(play))]);
    }
    $('no-recordings').hidden = recs.length > 0;
  }

  sv.config().then((c) => { if (c.version) $('version').textContent = 'sv ' + c.version; }).catch(() => {});
  refresh();
  setInterval(refresh, 2000);
  refreshRecordings();
  setInterval(refreshRecordings, 10000);
})();
