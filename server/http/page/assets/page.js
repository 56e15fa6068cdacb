// The live page: state and feed from /events (Server-Sent Events), the DN
// search from /api/dn. No framework, nothing fetched from elsewhere.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const FEED_MAX = 200;
  let query = '';
  let shown = new Set(); // DNs in the search table
  let researchTimer = null;

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v; else e.setAttribute(k, v);
    }
    for (const k of kids) e.append(k instanceof Node ? k : document.createTextNode(k == null ? '' : String(k)));
    return e;
  }
  const badge = (text, cls) => el('span', { class: 'badge ' + cls }, text);
  const short = (iso) => (iso ? iso.replace('T', ' ').replace('Z', '') : '-');

  function ago(iso) {
    if (!iso) return '';
    const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ago';
  }

  function renderState(st) {
    $('self').textContent = st.self;
    document.title = 'tcluster ' + st.self;
    const nb = $('nodes').tBodies[0];
    nb.replaceChildren(...st.nodes.map((n) => {
      const link = n.self ? 'self' : n.link_up ? 'up' : 'down';
      return el('tr', { 'data-node': n.name, 'data-link': link },
        el('td', {}, n.name), el('td', {}, badge(link, link)),
        el('td', { title: n.since }, short(n.since), ' ', el('span', { class: 'muted since-ago', 'data-since': n.since }, ago(n.since))),
        el('td', {}, n.dns_owned), el('td', {}, n.address || '-'));
    }));
    const s = st.summary;
    $('n-insrv').textContent = s.insrv;
    $('n-oos').textContent = s.oos;
    $('n-total').textContent = s.total;
    const ob = $('owners').tBodies[0];
    const owners = Object.entries(s.by_owner).sort((a, b) => a[0].localeCompare(b[0]));
    const max = Math.max(1, ...owners.map((o) => o[1]));
    ob.replaceChildren(...owners.map(([name, count]) => el('tr', { 'data-owner': name },
      el('td', {}, name), el('td', {}, count),
      el('td', { style: 'width:50%' }, el('div', { class: 'bar', style: 'width:' + (100 * count / max) + '%' })))));
    if (!owners.length) ob.append(el('tr', {}, el('td', { colspan: 3, class: 'muted' }, 'no DN owned')));
  }

  function feedText(it) {
    if (it.type === 'link') return ['link', 'link to ' + it.node + ' ' + (it.up ? 'up' : 'down')];
    if (it.type === 'call') {
      return ['call', 'call ' + (it.dn || '?') + ' ' + it.code + ' ' + it.outcome + ' ' + (it.origin || '') +
        (it.target ? '->' + it.target : '') + (it.contact ? ' ' + it.contact : '')];
    }
    return ['dn', 'DN ' + it.dn + ' ' + it.what + ': ' + (it.status === 'insrv' ? 'InSrv' : 'OOS') +
      (it.owner ? ' owner ' + it.owner : '') + (it.source ? ' (' + it.source + ')' : '') +
      (it.old_owner && it.old_owner !== it.owner ? ' was ' + it.old_owner : '')];
  }

  function addFeed(items, skipped) {
    const list = $('feed');
    const when = new Date().toISOString();
    for (const it of items) {
      const [cls, text] = feedText(it);
      const t = it.time || when;
      list.prepend(el('li', { class: cls, 'data-type': it.type }, el('span', { class: 't' }, short(t)), text));
    }
    if (skipped > 0) list.prepend(el('li', { class: 'muted' }, '… and ' + skipped + ' more events not shown'));
    while (list.children.length > FEED_MAX) list.lastChild.remove();
  }

  function dnRow(d) {
    const st = d.status === 'insrv' ? 'InSrv' : 'OOS';
    let bindings;
    if (d.bindings_here) bindings = d.bindings.length ? d.bindings.join(', ') : 'none';
    else if (d.owner) bindings = 'held by ' + d.owner;
    else bindings = '-';
    return el('tr', { 'data-dn': d.dn, 'data-status': d.status, 'data-owner': d.owner || '' },
      el('td', {}, d.dn), el('td', {}, badge(st, d.status)), el('td', {}, d.owner || '-'),
      el('td', {}, d.source || '-'), el('td', {}, d.version ? d.version.text : '-'),
      el('td', { title: d.since || '' }, short(d.since)), el('td', { class: 'wrap' }, bindings));
  }

  async function search() {
    if (!query) return;
    let res, body;
    try {
      res = await fetch('/api/dn?q=' + encodeURIComponent(query), { cache: 'no-store' });
      body = await res.json();
    } catch (e) {
      $('search-note').textContent = 'search failed: ' + e;
      return;
    }
    const tb = $('dns').tBodies[0];
    if (!res.ok) {
      tb.replaceChildren();
      shown = new Set();
      $('search-note').textContent = body.error || res.statusText;
      return;
    }
    const old = new Map([...tb.rows].map((r) => [r.dataset.dn, r.dataset.status + r.dataset.owner]));
    const rows = body.dns.map(dnRow);
    for (const r of rows) {
      if (old.has(r.dataset.dn) && old.get(r.dataset.dn) !== r.dataset.status + r.dataset.owner) r.classList.add('flash');
    }
    tb.replaceChildren(...rows);
    shown = new Set(body.dns.map((d) => d.dn));
    $('search-note').textContent = body.dns.length + ' DN' + (body.dns.length === 1 ? '' : 's') +
      (body.truncated ? ' (more: narrow the range)' : '');
  }

  // Changes to DNs on screen (or ones skipped) refresh the search, at most
  // every 300 ms.
  function researchSoon() {
    if (researchTimer) return;
    researchTimer = setTimeout(() => { researchTimer = null; search(); }, 300);
  }

  function onFeed(f) {
    const skipped = Number(f.skipped);
    addFeed(f.items, skipped);
    if (skipped > 0 || f.items.some((it) => it.type === 'dn' && shown.has(it.dn))) researchSoon();
  }

  function connect() {
    const es = new EventSource('/events');
    es.addEventListener('open', () => {
      $('conn').dataset.state = 'live';
      $('conn').textContent = 'live';
      researchSoon();
    });
    es.addEventListener('error', () => {
      $('conn').dataset.state = 'down';
      $('conn').textContent = 'disconnected, retrying';
    });
    es.addEventListener('state', (e) => renderState(JSON.parse(e.data)));
    es.addEventListener('feed', (e) => onFeed(JSON.parse(e.data)));
  }

  $('search').addEventListener('submit', (e) => {
    e.preventDefault();
    query = $('q').value.trim();
    const u = new URL(location.href);
    u.searchParams.set('q', query);
    history.replaceState(null, '', u);
    search();
  });
  setInterval(() => {
    $('clock').textContent = new Date().toISOString().slice(0, 19).replace('T', ' ') + ' UTC';
    for (const s of document.querySelectorAll('.since-ago')) s.textContent = ago(s.dataset.since);
  }, 1000);

  const q0 = new URL(location.href).searchParams.get('q');
  if (q0) { query = q0; $('q').value = q0; search(); }
  fetch('/api/feed', { cache: 'no-store' }).then((r) => r.json()).then((f) => addFeed(f.items, 0)).catch(() => {});
  connect();
})();
