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

  sv.config().then((c) => { if (c.version) $('version').textContent = 'sv ' + c.version; }).catch(() => {});
  refresh();
  setInterval(refresh, 2000);
})();
