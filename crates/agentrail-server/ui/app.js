// agentrail incident page: search events, replay one incident (one lane per
// system, the delegation tree, every event with its raw record) and list the
// anomaly report's findings. Plain DOM, no framework, no build step.
//
// Everything shown comes from raw audit records, which an attacker can shape:
// text only ever goes in through textContent or setAttribute on data-*/title,
// never innerHTML. The server's Content-Security-Policy forbids inline
// scripts and style attributes, so positions are set through the CSSOM
// (el.style.left) and everything else through classes in app.css.
'use strict';

(() => {
  const TOKEN_KEY = 'agentrail.token';
  const SEARCH_LIMIT = 200;
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const DESTRUCTIVE_CLASSES = new Set(['delete', 'admin']);
  // Columns of an event, in the order the details table lists them.
  const FIELD_ORDER = [
    'event_id', 'time', 'ingest_time', 'source', 'action', 'action_class', 'resource', 'outcome',
    'actor_type', 'actor_id', 'agent_id', 'agent_role', 'on_behalf_of', 'delegation_chain', 'task_id',
    'session_id', 'correlation_id', 'trace_id', 'request_id', 'scopes', 'permission', 'credential_type',
    'credential_id', 'credential_issued_at', 'credential_expires_at', 'approval_id', 'approved_by',
    'src_ip', 'user_agent', 'reason', 'message', 'attributes', 'redactions', 'linked_by',
  ];
  const LANE_ROW_HEIGHT = 22; // px per stacked row of markers in a lane
  const LANE_MAX_ROWS = 5; // past this, crowded markers lose their label (and get 2 more rows)
  const DOT_WIDTH = 12;

  const view = document.getElementById('view');
  const errorBanner = document.getElementById('error');
  const searchForm = document.getElementById('search-form');
  const searchInput = document.getElementById('search-input');
  const tokenForm = document.getElementById('token-form');
  const tokenInput = document.getElementById('token-input');
  const tokenMessage = document.getElementById('token-message');
  const authStatus = document.getElementById('auth-status');
  const findingsLink = document.getElementById('findings-link');

  // Bumped on every navigation, so a slow answer for a page the analyst
  // already left is dropped instead of drawn over the current one.
  let routeSeq = 0;
  // The timeline on screen, laid out again when the window is resized.
  let currentTimeline = null;
  // Each event row's open/close function, so a timeline marker can open it too.
  const detailToggles = new WeakMap();

  // ---------------------------------------------------------------- DOM helpers

  // el('a', {class: 'x', text: 'hi', href: '#'}, [children]): 'text' sets
  // textContent, 'testid' sets data-testid, null/false attributes are left out.
  function el(tag, attrs = {}, children = []) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'text') node.textContent = String(value);
      else if (key === 'testid') node.setAttribute('data-testid', value);
      else node.setAttribute(key, value === true ? '' : String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  const present = (value) => value !== null && value !== undefined && value !== '';
  const replayHref = (id) => '#replay=' + encodeURIComponent(id);

  function showError(message) {
    errorBanner.textContent = message;
    errorBanner.hidden = false;
  }

  function clearError() {
    errorBanner.textContent = '';
    errorBanner.hidden = true;
  }

  function setView(...children) {
    currentTimeline = null;
    view.replaceChildren(...children);
  }

  // ---------------------------------------------------------------- formatting

  // Times stay in UTC as stored (audit records from many systems): the ISO
  // text, cut to milliseconds, with a space instead of the 'T'.
  function fmtTime(iso) {
    if (!present(iso)) return '';
    return String(iso).replace('T', ' ').replace(/(\.\d{3})\d+/, '$1');
  }

  // Only the time of day, for lists within one incident.
  function fmtClock(iso) {
    const match = /T(\d\d:\d\d:\d\d(?:\.\d{1,3})?)/.exec(String(iso || ''));
    return match ? match[1] : fmtTime(iso);
  }

  function fmtDuration(ms) {
    if (!Number.isFinite(ms) || ms < 0) return '';
    if (ms < 1000) return Math.round(ms) + ' ms';
    const s = Math.round(ms / 1000);
    if (s < 60) return s + 's';
    if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : '');
    if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
    return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
  }

  // The last dotted part of an action ("aws.logs.delete_log_group" →
  // "delete_log_group"): enough for a timeline label, the title has the rest.
  const shortAction = (action) => String(action || '?').split('.').pop();

  const noun = (count, word) => (count === 1 ? word : word + 's');
  const plural = (count, word) => count + ' ' + noun(count, word);

  const isDestructive = (event) => DESTRUCTIVE_CLASSES.has(event.action_class);
  const isUnapproved = (event) =>
    isDestructive(event) && !present(event.approval_id) && !present(event.approved_by);

  // The SQL that gives the same events, for a ticket or a notebook.
  function replaySql(correlationId) {
    const quoted = "'" + String(correlationId).replace(/'/g, "''") + "'";
    return 'SELECT time, source, action, action_class, outcome, actor_type, actor_id, agent_id, ' +
      'on_behalf_of, delegation_chain, task_id, resource, credential_id, approval_id, approved_by, ' +
      'event_id FROM events WHERE correlation_id = ' + quoted + ' ORDER BY time, event_id';
  }

  // ---------------------------------------------------------------- API and token

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  // sessionStorage can be switched off; the token then lives until reload.
  let memoryToken = null;
  function getToken() {
    try { return sessionStorage.getItem(TOKEN_KEY); } catch { return memoryToken; }
  }
  function setToken(token) {
    memoryToken = token;
    try {
      if (token) sessionStorage.setItem(TOKEN_KEY, token);
      else sessionStorage.removeItem(TOKEN_KEY);
    } catch { /* memoryToken holds it */ }
    authStatus.hidden = !token;
  }

  // GET a JSON answer of the read API; any failure becomes an ApiError with
  // the server's own `error` text. 401 and 403 also bring up the token form.
  async function api(path) {
    const headers = { Accept: 'application/json' };
    const token = getToken();
    if (token) headers.Authorization = 'Bearer ' + token;
    let response;
    try {
      response = await fetch(path, { headers, credentials: 'omit', cache: 'no-store' });
    } catch (error) {
      throw new ApiError(0, 'Cannot reach the server: ' + error.message);
    }
    const text = await response.text();
    let body = null;
    try { body = JSON.parse(text); } catch { /* not JSON: use the text */ }
    if (response.ok && body !== null) return body;
    const reason = body && typeof body.error === 'string' ? body.error : (text.trim() || response.statusText);
    if (response.status === 401) {
      showTokenForm(token ? 'This token was refused. Enter an analyst token.' : 'This server needs an analyst token.');
    } else if (response.status === 403) {
      showTokenForm('This token lacks the analyst role. Enter an analyst token.');
      throw new ApiError(403, 'This token lacks the analyst role (' + reason + ')');
    }
    throw new ApiError(response.status, reason || 'HTTP ' + response.status);
  }

  function showTokenForm(message) {
    tokenMessage.textContent = message;
    tokenForm.hidden = false;
    tokenInput.focus();
  }

  // A failed load: 401 is explained by the token form, anything else by the banner.
  function reportFailure(error, where) {
    if (error instanceof ApiError && error.status === 401) {
      where.replaceChildren(el('p', { class: 'muted', text: 'Sign in with an analyst token to see this.' }));
      return;
    }
    showError(error.message);
    where.replaceChildren(el('p', { class: 'muted', text: 'Could not load this view: see the error above.' }));
  }

  // ---------------------------------------------------------------- routing

  // Views are in the hash so they can be linked and the back button works:
  // #search=TEXT, #replay=CORRELATION_ID, anything else is the start view.
  function parseHash() {
    const hash = location.hash.slice(1);
    const eq = hash.indexOf('=');
    if (eq < 0) return { name: hash, value: '' };
    let value = hash.slice(eq + 1);
    try { value = decodeURIComponent(value); } catch { /* keep it as typed */ }
    return { name: hash.slice(0, eq), value };
  }

  function route() {
    const seq = ++routeSeq;
    clearError();
    const { name, value } = parseHash();
    if (name === 'search' && value) {
      searchInput.value = value;
      return renderSearch(value, seq);
    }
    if (name === 'replay' && value) {
      searchInput.value = value;
      return renderReplay(value, seq);
    }
    return renderHome(seq);
  }

  // Go to a hash; the same hash again would fire no hashchange, so route by hand.
  function navigate(hash) {
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  const loading = (what) => el('p', { class: 'muted loading', text: 'Loading ' + what + '…' });

  // ---------------------------------------------------------------- start view: findings

  async function renderHome(seq) {
    const panel = el('div', { class: 'findings-body' }, [loading('findings')]);
    const section = el('section', { class: 'panel findings', testid: 'findings', 'data-state': 'loading' }, [
      el('h2', { text: 'Findings' }), panel,
    ]);
    setView(el('div', { class: 'home' }, [section, helpCard()]));
    try {
      const report = await api('/api/v1/reports');
      if (seq !== routeSeq) return;
      panel.replaceChildren(...findingsContent(report));
      findingsLink.textContent = 'Findings (' + (report.findings || []).length + ')';
    } catch (error) {
      if (seq !== routeSeq) return;
      if (error.status === 404) panel.replaceChildren(el('p', { class: 'muted', text: 'Reports are off on this server.' }));
      else reportFailure(error, panel);
    }
    section.setAttribute('data-state', 'done');
  }

  function findingsContent(report) {
    const findings = Array.isArray(report.findings) ? report.findings : [];
    const rulesRun = Array.isArray(report.rules_run) ? report.rules_run.length : 0;
    const parts = [el('p', { class: 'muted', text:
      'Report of ' + fmtTime(report.generated_at) + ' · ' + rulesRun + ' rules ran · ' + findings.length + ' findings' })];
    for (const failure of report.errors || []) {
      const text = typeof failure === 'string' ? failure : (failure.rule || '') + ': ' + (failure.error || JSON.stringify(failure));
      parts.push(el('p', { class: 'warning', text: 'Rule failed: ' + text }));
    }
    if (findings.length === 0) {
      parts.push(el('p', { class: 'empty', text: 'No findings yet: each rule runs on its own schedule.' }));
      return parts;
    }
    // Most severe first; severities the page does not know go last.
    const rank = (f) => { const i = SEVERITIES.indexOf(f.severity); return i < 0 ? SEVERITIES.length : i; };
    const sorted = [...findings].sort((a, b) => rank(a) - rank(b) || String(b.last_seen).localeCompare(String(a.last_seen)));
    let list = null;
    let group = null;
    for (const finding of sorted) {
      if (finding.severity !== group) {
        group = finding.severity;
        const count = sorted.filter((f) => f.severity === group).length;
        parts.push(el('h3', { class: 'sev-heading sev-text-' + group, text: (group || 'unknown') + ' · ' + count }));
        list = el('ul', { class: 'finding-list' });
        parts.push(list);
      }
      list.append(findingItem(finding));
    }
    return parts;
  }

  const severityBadge = (severity) =>
    el('span', { class: 'sev sev-' + (SEVERITIES.includes(severity) ? severity : 'info'), text: severity || 'unknown' });

  function findingItem(f) {
    const who = present(f.on_behalf_of) ? (f.agent_id || '?') + ' for ' + f.on_behalf_of : (f.agent_id || 'no agent');
    const when = f.first_seen === f.last_seen ? fmtTime(f.first_seen) : fmtTime(f.first_seen) + ' → ' + fmtClock(f.last_seen);
    return el('li', { class: 'finding', testid: 'finding', 'data-rule': f.rule,
      'data-correlation-id': present(f.correlation_id) ? f.correlation_id : null }, [
      severityBadge(f.severity),
      el('div', {}, [
        el('div', { class: 'finding-title', text: f.title || f.rule }),
        el('div', { class: 'finding-meta' }, [
          el('code', { text: f.rule }), el('span', { text: who }),
          el('span', { text: plural(f.count ?? 0, 'event') }),
          el('span', { class: 'muted', text: when }),
        ]),
      ]),
      present(f.correlation_id)
        ? el('a', { href: replayHref(f.correlation_id), testid: 'finding-replay', class: 'replay-link', title: 'Replay ' + f.correlation_id, text: 'replay ›' })
        : el('span', { class: 'muted', text: 'no correlation id' }),
    ]);
  }

  function helpCard() {
    const tip = (query, text) => el('li', {}, [el('code', { text: query }), ' ' + text]);
    return el('aside', { class: 'panel help' }, [
      el('h2', { text: 'Search' }),
      el('ul', { class: 'tips' }, [
        tip('corr-…', 'an id (correlation, event, credential, task) matches exactly'),
        tip('delete*', 'words in action, resource, message and the raw record'),
        tip('source:okta', 'field:value for ids, source, outcome'),
        tip('outcome:denied AND source:github', 'combine with AND / OR'),
      ]),
      el('p', { class: 'muted', text: 'Open a result\'s replay to see the whole incident: one lane per system, ' +
        'who delegated to whom, and every destructive action without an approval.' }),
    ]);
  }

  // ---------------------------------------------------------------- search view

  async function renderSearch(query, seq) {
    const body = el('div', {}, [loading('results')]);
    setView(el('section', { class: 'panel' }, [body]));
    const ask = (q) => api('/api/v1/search?q=' + encodeURIComponent(q) + '&limit=' + SEARCH_LIMIT);
    let answer;
    let asked = query;
    try {
      answer = await ask(query).catch((error) => {
        // An id with query-syntax characters in it (a quote, a colon…) is
        // not a valid query on its own: search for it as one quoted term.
        if (error.status !== 400 || /[\s"]/.test(query)) throw error;
        asked = '"' + query + '"';
        return ask(asked);
      });
    } catch (error) {
      if (seq === routeSeq) reportFailure(error, body);
      return;
    }
    if (seq !== routeSeq) return;
    const events = Array.isArray(answer.events) ? answer.events : [];
    if (events.length === 0) {
      body.replaceChildren(el('p', { class: 'empty', text: 'No events match ' + asked + '.' }));
      return;
    }
    const more = answer.truncated ? ' (the first ' + events.length + '; narrow the query to see the rest)' : '';
    body.replaceChildren(
      el('h2', { text: plural(events.length, 'event') + (events.length === 1 ? ' matches ' : ' match ') + asked + more }),
      eventTable(events, SEARCH_COLUMNS, (row, event) => {
        row.setAttribute('data-testid', 'result');
        if (present(event.correlation_id)) row.setAttribute('data-correlation-id', event.correlation_id);
      }),
    );
  }

  // ---------------------------------------------------------------- event tables

  const text = (value) => (present(value) ? String(value) : '—');
  const outcomeCell = (e) => el('span', { class: 'outcome outcome-' + (e.outcome || 'unknown'), text: text(e.outcome) });
  const actionCell = (e) => el('div', {}, [
    el('span', { class: 'action', text: text(e.action) }),
    present(e.resource) ? el('div', { class: 'resource', title: e.resource, text: e.resource }) : null,
  ]);

  const SEARCH_COLUMNS = [
    { title: 'time (UTC)', cell: (e) => el('span', { class: 'mono', text: fmtTime(e.time) }) },
    { title: 'source', cell: (e) => text(e.source) },
    { title: 'action', cell: actionCell, wide: true },
    { title: 'agent', cell: (e) => text(e.agent_id) },
    { title: 'on behalf of', cell: (e) => text(e.on_behalf_of) },
    { title: 'outcome', cell: outcomeCell },
    { title: 'correlation id', cell: (e) => present(e.correlation_id)
      ? el('span', {}, [el('span', { class: 'mono', text: e.correlation_id + ' ' }),
        el('a', { href: replayHref(e.correlation_id), testid: 'open-replay', class: 'replay-link', text: 'replay ›' })])
      : '—' },
  ];

  const REPLAY_COLUMNS = [
    { title: 'time (UTC)', cell: (e) => el('span', { class: 'mono', title: e.time, text: fmtClock(e.time) }) },
    { title: 'source', cell: (e) => text(e.source) },
    { title: 'action', cell: actionCell, wide: true },
    { title: 'class', cell: (e) => text(e.action_class) },
    { title: 'agent', cell: (e) => text(e.agent_id) },
    { title: 'on behalf of', cell: (e) => text(e.on_behalf_of) },
    { title: 'outcome', cell: outcomeCell },
    { title: 'approval', cell: approvalCell },
  ];

  function approvalCell(e) {
    const parts = [];
    if (isUnapproved(e)) parts.push(el('span', { class: 'tag tag-unapproved', text: 'no approval' }));
    else if (present(e.approval_id) || present(e.approved_by)) {
      parts.push(el('span', { class: 'tag tag-approved', text: '✓ ' + [e.approved_by, e.approval_id].filter(present).join(' · ') }));
    }
    if (e.linked_by) parts.push(el('span', { class: 'tag', title: 'pulled in by expansion', text: 'linked via ' + (e.linked_by.link || '?') }));
    return parts.length ? el('span', {}, parts) : '';
  }

  // A table of events, one row each; a click (or Enter) on a row opens its
  // details below it. `decorate(row, event)` adds the view's own hooks.
  function eventTable(events, columns, decorate, onToggle = () => {}) {
    const tbody = el('tbody');
    for (const event of events) {
      const row = el('tr', { class: 'event-row', tabindex: '0', 'aria-expanded': 'false', 'data-event-id': event.event_id },
        columns.map((column) => el('td', { class: column.wide ? 'wide' : null }, [column.cell(event)])));
      if (isDestructive(event)) row.classList.add('destructive');
      if (isUnapproved(event)) row.classList.add('unapproved');
      decorate(row, event);
      const toggle = () => onToggle(event, toggleDetails(row, event, columns.length));
      row.addEventListener('click', (click) => {
        if (!click.target.closest('a, button') && !window.getSelection().toString()) toggle();
      });
      row.addEventListener('keydown', (key) => {
        if (key.target === row && (key.key === 'Enter' || key.key === ' ')) { key.preventDefault(); toggle(); }
      });
      detailToggles.set(row, toggle);
      tbody.append(row);
    }
    const head = el('thead', {}, [el('tr', {}, columns.map((column) => el('th', { text: column.title })))]);
    return el('div', { class: 'table-scroll' }, [el('table', { class: 'events' }, [head, tbody])]);
  }

  // Opens or closes the details row under `row`; answers whether it is now open.
  function toggleDetails(row, event, span) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains('details-row')) {
      next.remove();
      row.setAttribute('aria-expanded', 'false');
      return false;
    }
    const details = el('div', { class: 'details', testid: 'event-details', 'data-event-id': event.event_id }, [
      el('div', {}, [el('h4', { text: 'Normalized fields' }), fieldsTable(event)]),
      el('div', {}, [
        el('h4', { text: 'Raw record' + (event.redactions ? ' (' + event.redactions + ' secrets redacted)' : '') }),
        el('pre', { class: 'raw', testid: 'raw', text: prettyRaw(event.raw) }),
      ]),
    ]);
    row.after(el('tr', { class: 'details-row' }, [el('td', { colspan: span }, [details])]));
    row.setAttribute('aria-expanded', 'true');
    return true;
  }

  // Two columns, field and value, for every field that has a value; known
  // columns first in schema order, then any others the server adds.
  function fieldsTable(object, order = FIELD_ORDER) {
    const keys = [...order.filter((k) => k in object), ...Object.keys(object).filter((k) => !order.includes(k)).sort()];
    const rows = [];
    for (const key of keys) {
      if (key === 'raw') continue;
      const value = object[key];
      if (!present(value) || (Array.isArray(value) && value.length === 0)) continue;
      if (typeof value === 'object' && !Array.isArray(value) && Object.keys(value).length === 0) continue;
      rows.push(el('tr', {}, [el('th', { text: key }), el('td', {}, [fieldValue(key, value)])]));
    }
    return el('table', { class: 'fields' }, [el('tbody', {}, rows)]);
  }

  function fieldValue(key, value) {
    if (Array.isArray(value)) {
      const items = value.map((item) => (typeof item === 'object' && item !== null ? JSON.stringify(item) : String(item)));
      return items.join(key === 'delegation_chain' ? ' → ' : ', ');
    }
    if (typeof value === 'object') return fieldsTable(value, []); // attributes, linked_by
    return String(value);
  }

  // The original record, indented when it is JSON (most sources send JSON).
  function prettyRaw(raw) {
    if (!present(raw)) return '(no raw record kept)';
    try { return JSON.stringify(JSON.parse(raw), null, 2); } catch { return String(raw); }
  }

  // ---------------------------------------------------------------- replay view

  async function renderReplay(id, seq) {
    setView(el('section', { class: 'panel' }, [loading('incident ' + id)]));
    let replay;
    try {
      replay = await api('/api/v1/replay/' + encodeURIComponent(id) + '?expand=true');
    } catch (error) {
      if (seq === routeSeq) reportFailure(error, view.firstChild);
      return;
    }
    if (seq !== routeSeq) return;
    const events = Array.isArray(replay.events) ? replay.events : [];
    const correlationId = replay.correlation_id || id;
    const markers = new Map(); // event_id → its timeline marker, to mirror the list's open state
    const list = eventTable(events, REPLAY_COLUMNS, (row) => row.setAttribute('data-testid', 'event'),
      (event, open) => { const m = markers.get(event.event_id); if (m) m.classList.toggle('selected', open); });
    const rows = new Map([...list.querySelectorAll('tr.event-row')].map((row) => [row.getAttribute('data-event-id'), row]));
    const timeline = timelineView(replay, events, markers, (eventId) => {
      const row = rows.get(eventId);
      if (!row) return;
      detailToggles.get(row)();
      row.scrollIntoView({ block: 'nearest', behavior: 'smooth' });
    });
    const section = el('section', { class: 'replay', testid: 'replay', 'data-correlation-id': correlationId }, [
      replayHeader(replay, correlationId, events),
      el('div', { class: 'replay-grid' }, [
        el('div', { class: 'panel' }, [el('h3', { text: 'Timeline' }), legend(), timeline]),
        el('aside', { class: 'panel side' }, [
          el('h3', { text: 'Delegation' }), delegationTree(replay.delegation || []),
          el('h3', { text: 'Credentials' }), credentialsList(replay.credentials || []),
        ]),
      ]),
      el('div', { class: 'panel' }, [el('h3', { text: 'Events in time order' }), list]),
    ]);
    setView(section);
    currentTimeline = timeline;
    layoutTimeline(timeline);
  }

  function replayHeader(replay, correlationId, events) {
    const destructive = events.filter(isDestructive).length;
    const unapproved = events.filter(isUnapproved).length;
    const systems = new Set(events.map(laneOf)).size;
    const eventCount = replay.event_count ?? events.length;
    const span = Date.parse(replay.last_seen) - Date.parse(replay.first_seen);
    const strong = (value) => el('strong', { text: value });
    const summary = el('p', { class: 'summary', testid: 'replay-summary' }, [
      el('code', { class: 'cid', text: correlationId }), ' · ',
      fmtTime(replay.first_seen), ' → ', fmtTime(replay.last_seen), ' (' + fmtDuration(span) + ') · ',
      strong(eventCount), ' ' + noun(eventCount, 'event') + ' · ', strong(systems), ' ' + noun(systems, 'system') + ' · ',
      el('span', { class: destructive ? 'warn-text' : '' }, [strong(destructive), ' destructive']),
      unapproved ? el('span', { class: 'danger-text' }, [' (', strong(unapproved), ' with no approval)']) : '',
    ]);
    const notes = [];
    if ((replay.expanded || []).length) notes.push(plural(replay.expanded.length, 'event') + ' linked in by shared ids (marked "linked via").');
    if (replay.expansion_truncated) notes.push('Expansion stopped at its limit: more linked events may exist.');
    const sql = el('pre', { class: 'sql', testid: 'sql', hidden: true, text: replaySql(correlationId) });
    const copyNote = el('span', { class: 'muted copy-note' });
    const copy = el('button', { type: 'button', testid: 'copy-sql', text: 'Copy SQL' });
    copy.addEventListener('click', () => copySql(sql, copyNote));
    return el('div', { class: 'replay-head panel' }, [
      el('div', { class: 'replay-title' }, [el('h2', { text: 'Incident replay' }), copyNote, copy]),
      summary,
      ...notes.map((note) => el('p', { class: 'muted', text: note })),
      sql,
    ]);
  }

  // Shows the SQL and puts it on the clipboard; where the clipboard is not
  // available (plain http, no permission) the text is selected instead.
  async function copySql(pre, note) {
    pre.hidden = false;
    try {
      await navigator.clipboard.writeText(pre.textContent);
      note.textContent = 'Copied to the clipboard.';
    } catch {
      const range = document.createRange();
      range.selectNodeContents(pre);
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      note.textContent = 'Clipboard unavailable: the SQL is selected, press Ctrl+C.';
    }
  }

  function legend() {
    const item = (cls, label) => el('span', { class: 'legend-item' }, [el('span', { class: 'dot ' + cls }), label]);
    return el('div', { class: 'legend' }, [
      item('ac-read', 'read'), item('ac-write', 'write'), item('ac-auth', 'auth'), item('ac-other', 'other'),
      item('destructive', 'delete / admin'), item('unapproved', 'no approval'),
    ]);
  }

  // ---------------------------------------------------------------- timeline

  const laneOf = (event) => (present(event.source) ? String(event.source) : 'unknown');

  // One lane per system; each event a marker at its time within
  // [first_seen, last_seen]. Rows inside a lane are assigned by
  // layoutTimeline once the markers can be measured.
  function timelineView(replay, events, markers, onPick) {
    const start = Date.parse(replay.first_seen);
    const end = Date.parse(replay.last_seen);
    const span = end - start;
    const position = (iso) => {
      const t = Date.parse(iso);
      if (!(span > 0) || !Number.isFinite(t)) return 50; // one instant: centre it
      return Math.min(100, Math.max(0, ((t - start) / span) * 100));
    };
    const sources = [...new Set(events.map(laneOf))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const lanes = sources.map((source) => {
      const mine = events.filter((event) => laneOf(event) === source);
      const track = el('div', { class: 'track' });
      for (const event of mine) {
        const marker = el('button', { type: 'button', class: 'marker ac-' + (event.action_class || 'other'), testid: 'marker',
          'data-event-id': event.event_id,
          title: fmtClock(event.time) + '  ' + (event.action || '?') + '  (' + (event.outcome || 'unknown') + ')' +
            (present(event.resource) ? '\n' + event.resource : '') + (isUnapproved(event) ? '\nno approval' : ''),
        }, [el('span', { class: 'dot' }), el('span', { class: 'label', text: shortAction(event.action) })]);
        if (isDestructive(event)) marker.classList.add('destructive');
        if (isUnapproved(event)) marker.classList.add('unapproved');
        marker.style.left = position(event.time) + '%';
        marker.addEventListener('click', () => onPick(event.event_id));
        markers.set(event.event_id, marker);
        track.append(marker);
      }
      return el('div', { class: 'lane', testid: 'lane', 'data-source': source }, [
        el('div', { class: 'lane-label' }, [el('span', { class: 'lane-name', text: source }),
          el('span', { class: 'muted', text: plural(mine.length, 'event') })]),
        el('div', { class: 'lane-track' }, [track]),
      ]);
    });
    return el('div', { class: 'timeline' }, [axis(start, end, position), ...lanes]);
  }

  // Tick marks at a round step, about six across the incident.
  function axis(start, end, position) {
    const ticks = el('div', { class: 'track' });
    const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
      .map((s) => s * 1000);
    const span = end - start;
    if (span > 0) {
      const step = steps.find((s) => span / s <= 6) || Math.ceil(span / 6 / 86400000) * 86400000;
      for (let t = Math.ceil(start / step) * step; t <= end; t += step) {
        const iso = new Date(t).toISOString();
        const tick = el('span', { class: 'tick', text: span > 86400000 ? iso.slice(5, 16).replace('T', ' ') : iso.slice(11, 19) });
        tick.style.left = position(iso) + '%';
        ticks.append(tick);
      }
    }
    return el('div', { class: 'lane axis' }, [el('div', { class: 'lane-label muted', text: 'UTC' }),
      el('div', { class: 'lane-track' }, [ticks])]);
  }

  // Stacks markers so their labels do not overlap: each goes to the first row
  // whose last label ends before it starts. When a lane is too crowded the
  // marker keeps only its dot (the title still names the action).
  function layoutTimeline(timeline) {
    for (const track of timeline.querySelectorAll('.lane:not(.axis) .track')) {
      const width = track.clientWidth;
      const rowEnds = [];
      for (const marker of track.querySelectorAll('.marker')) {
        marker.classList.remove('compact');
        const x = (parseFloat(marker.style.left) / 100) * width;
        let row = rowEnds.findIndex((endX) => endX + 6 <= x);
        if (row < 0 && rowEnds.length < LANE_MAX_ROWS) row = rowEnds.push(-Infinity) - 1;
        let markerWidth = marker.offsetWidth;
        if (row < 0) {
          marker.classList.add('compact');
          markerWidth = DOT_WIDTH;
          row = rowEnds.findIndex((endX) => endX + 4 <= x);
          if (row < 0 && rowEnds.length < LANE_MAX_ROWS + 2) row = rowEnds.push(-Infinity) - 1;
          if (row < 0) row = rowEnds.indexOf(Math.min(...rowEnds));
        }
        rowEnds[row] = Math.max(rowEnds[row], x + markerWidth);
        marker.style.top = row * LANE_ROW_HEIGHT + 'px';
      }
      track.style.height = Math.max(1, rowEnds.length) * LANE_ROW_HEIGHT + 'px';
    }
  }

  // ---------------------------------------------------------------- side panel

  // Human → agent → sub-agent, as the server merged it from every event's chain.
  function delegationTree(nodes) {
    const node = (item, depth) => el('li', { testid: 'delegate', 'data-name': item.name }, [
      el('span', { class: 'who' }, [
        icon(depth === 0 ? 'person' : 'agent'),
        el('span', { class: 'name', text: present(item.name) ? item.name : '(unnamed)' }),
      ]),
      (item.children || []).length ? el('ul', {}, item.children.map((child) => node(child, depth + 1))) : null,
    ]);
    const tree = el('ul', { class: 'tree', testid: 'delegation-tree' }, nodes.map((item) => node(item, 0)));
    if (nodes.length) return tree;
    return el('div', {}, [tree, el('p', { class: 'muted', text: 'No delegation chain recorded.' })]);
  }

  // Small inline SVG icons (the page may load nothing but its three files).
  const ICON_PATHS = {
    person: 'M8 8a3 3 0 1 0 0-6 3 3 0 0 0 0 6zm-5.5 6.5c0-3 2.5-5 5.5-5s5.5 2 5.5 5z',
    agent: 'M7 1h2v2h3.5A1.5 1.5 0 0 1 14 4.5v7a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 2 11.5v-7A1.5 1.5 0 0 1 3.5 3H7z' +
      'M5.5 6.5a1 1 0 1 0 0 2 1 1 0 0 0 0-2zm5 0a1 1 0 1 0 0 2 1 1 0 0 0 0-2zM5 10.5h6v1H5z',
  };
  function icon(kind) {
    const ns = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 16 16');
    svg.setAttribute('class', 'icon icon-' + kind);
    svg.setAttribute('aria-hidden', 'true');
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', ICON_PATHS[kind]);
    path.setAttribute('fill-rule', 'evenodd');
    svg.append(path);
    return svg;
  }

  function credentialsList(credentials) {
    if (!credentials.length) return el('p', { class: 'muted', text: 'No credentials recorded.' });
    return el('ul', { class: 'creds' }, credentials.map((c) => el('li', {}, [
      el('div', { class: 'mono ellipsis', title: c.credential_id, text: c.credential_id }),
      el('div', { class: 'muted', text: [c.credential_type, present(c.lifetime_seconds) ? 'lives ' + fmtDuration(c.lifetime_seconds * 1000) : null,
        plural(c.events ?? 0, 'event'), (c.used_by || []).length ? 'by ' + c.used_by.join(', ') : null].filter(present).join(' · ') }),
    ])));
  }

  // ---------------------------------------------------------------- wiring

  searchForm.addEventListener('submit', (submit) => {
    submit.preventDefault();
    const query = searchInput.value.trim();
    if (query) navigate('#search=' + encodeURIComponent(query));
  });

  tokenForm.addEventListener('submit', (submit) => {
    submit.preventDefault();
    const token = tokenInput.value.trim();
    if (!token) return;
    setToken(token);
    tokenInput.value = '';
    tokenForm.hidden = true;
    route();
  });

  document.getElementById('sign-out').addEventListener('click', () => {
    setToken(null);
    route();
  });

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (currentTimeline) layoutTimeline(currentTimeline); }, 100);
  });

  window.addEventListener('hashchange', route);
  authStatus.hidden = !getToken();
  route();
})();
