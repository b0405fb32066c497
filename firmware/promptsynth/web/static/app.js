// promptsynth web page: talks to the instrument through the HTTP API of docs/web.md.
// Plain ES2017, no build step, nothing fetched beyond this origin (it runs on a LAN, offline).
// Rule: text from the API (sound names, prompts, logs) is only ever inserted with textContent.
'use strict';

const PAGES = ['now', 'library', 'presets', 'settings', 'system'];
const SECTION_TITLES = { sound: 'Sound', generate: 'Generation' };
const PAGE_SIZE = 100;

const state = {
  csrf: '', loggedIn: false, page: 'now',
  follow: null, followState: null,                 // the job #job-state follows
  pollTimer: 0, pollAbort: null, pollSoon: false, pollFailed: false, lastStatus: null,
};
const lib = { seq: 0, loaded: 0, total: 0, searchTimer: 0 };
const wave = { peaks: null };

// ---- small helpers ----------------------------------------------------------------------------
const $ = (sel, root) => (root || document).querySelector(sel);
const enc = encodeURIComponent;
const fmtValue = (v) => (v !== null && typeof v === 'object' ? JSON.stringify(v) : String(v));
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

// el('li', {class: 'x', text: 'y', 'data-id': 3}, child, ...): a new element. String children
// become text nodes, so this never parses HTML. true: an empty attribute; null/false: left out.
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k === 'text') e.textContent = v;
    else if (v === true) e.setAttribute(k, '');
    else if (k.includes('-') || !(k in e)) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const kid of kids) if (kid != null) e.append(kid);
  return e;
}

// A page's status line (role=status): kind 'error' shows red.
function say(id, msg, kind) {
  const e = document.getElementById(id);
  e.textContent = msg || '';
  e.dataset.kind = kind || 'info';
}

// Runs fn; an error (the server's {"error"} message) goes to the status line `id`.
async function attempt(id, fn) {
  try { return await fn(); } catch (e) { if (e.name !== 'AbortError') say(id, e.message, 'error'); }
}

function fmtDate(s) {           // "2024-05-01T12:00:00Z" (UTC) -> local "2024-05-01 14:00"
  const d = new Date(s), p = (n) => String(n).padStart(2, '0');
  if (!s || isNaN(d)) return String(s || '');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

// ---- the API ----------------------------------------------------------------------------------
// An API failure: message, HTTP status (0: no answer), the JSON answer, the headers.
const apiError = (status, message, data, headers) => Object.assign(new Error(message), { status, data: data || {}, headers });

// One call. body: an object sent as JSON, or with opts.raw a Blob sent as it is (opts.type).
// Answers the parsed JSON, or throws apiError with the server's message. Changes carry the CSRF
// token. A 401 on any call but the login itself: the session is gone, back to the login form.
async function api(method, path, body, opts) {
  opts = opts || {};
  const headers = { Accept: 'application/json' };
  let payload;
  if (method !== 'GET') {
    headers['X-CSRF-Token'] = state.csrf;
    if (opts.raw) { payload = body; headers['Content-Type'] = opts.type; }
    else if (method !== 'DELETE') { payload = JSON.stringify(body || {}); headers['Content-Type'] = 'application/json'; }
  }
  let res;
  try {
    res = await fetch(path, { method, headers, body: payload, credentials: 'same-origin', signal: opts.signal });
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw apiError(0, 'no answer from the instrument (network down?)');
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : {}; } catch (e) { /* not JSON: a proxy's page */ }
  if (!res.ok) {
    if (res.status === 401 && !opts.login && state.loggedIn) sessionLost();
    throw apiError(res.status, (data && data.error) || `${res.status} ${res.statusText}`.trim(), data, res.headers);
  }
  return data || {};
}

// ---- session and login ------------------------------------------------------------------------
// GET /api/session: a fresh CSRF token and the kiosk flag; answers logged_in. In kiosk mode
// the body's class makes CSS hide every .destructive control.
async function refreshSession(keepToken) {
  const s = await api('GET', '/api/session');
  if (s.csrf && !keepToken) state.csrf = s.csrf;
  document.body.classList.toggle('kiosk', !!s.kiosk);
  return !!s.logged_in;
}

function showLogin(msg) {
  state.loggedIn = false;
  stopPolling();
  $('#app').hidden = true;
  $('#login-view').hidden = false;
  $('#password').value = '';
  if (msg !== undefined) say('login-error', msg, 'error');
  $('#password').focus();
}

function enterApp() {
  state.loggedIn = true;
  $('#login-view').hidden = true;
  $('#app').hidden = false;
  say('login-error', '');
  showPage(location.hash.slice(1) || state.page);
  pollNow();
}

// A later call answered 401 (session timed out, daemon restarted): log in again, with a new token.
function sessionLost() {
  showLogin('your session ended: log in again');
  refreshSession().catch(() => {});
}

async function login(ev) {
  ev.preventDefault();
  const btn = $('#login-button');
  btn.disabled = true;
  let wait = 0;
  try {
    const d = await api('POST', '/api/login', { password: $('#password').value }, { login: true });
    state.csrf = d.csrf;
    $('#password').value = '';
    if (await refreshSession(true)) enterApp();         // (for the kiosk flag)
    else say('login-error', 'logged in, but the browser kept no session cookie', 'error');
  } catch (e) {
    if (e.status === 401) say('login-error', 'wrong password', 'error');
    else if (e.status === 429) {
      wait = parseInt(e.headers.get('Retry-After'), 10) || Math.ceil(e.data.retry_after) || 1;
      say('login-error', `too many attempts, wait ${wait} s`, 'error');
    } else {
      say('login-error', e.message, 'error');
      if (e.status === 403) refreshSession().catch(() => {});   // a stale token: next try has a new one
    }
  } finally {
    setTimeout(() => { btn.disabled = false; }, wait * 1000);
  }
}

async function logout() {
  await attempt('system-status', async () => {
    await api('POST', '/api/logout', {});
    showLogin('');
    await refreshSession();
  });
}

// ---- tabs -------------------------------------------------------------------------------------
function showPage(name) {
  if (!PAGES.includes(name)) name = 'now';
  state.page = name;
  for (const p of PAGES) {
    $('#page-' + p).hidden = p !== name;
    $('#tab-' + p).setAttribute('aria-selected', String(p === name));
  }
  history.replaceState(null, '', '#' + name);   // a reload comes back to the same page
  if (name === 'library') { loadSounds(true); drawWave(); }   // fresh: the panel and OSC add sounds too
  else if (name === 'presets') loadPresets();
  else if (name === 'settings') loadSettings();
  else if (name === 'system') loadSystem();
}

// ---- Now: status polling ----------------------------------------------------------------------
function stopPolling() {
  clearTimeout(state.pollTimer);
  if (state.pollAbort) state.pollAbort.abort();
  state.pollAbort = null;
}

// Poll at once (after generate, cancel, load...), never running two polls together.
function pollNow() {
  if (state.pollAbort) { state.pollSoon = true; return; }
  clearTimeout(state.pollTimer);
  poll();
}

// GET /api/status every 1000 ms; every 250 ms while any job is queued or running.
async function poll() {
  if (!state.loggedIn) return;
  const ctl = new AbortController();
  state.pollAbort = ctl;
  let next = 1000;
  try {
    const s = await api('GET', '/api/status', null, { signal: ctl.signal });
    renderStatus(s);
    if ((s.jobs || []).some((j) => j.state === 'queued' || j.state === 'running')) next = 250;
    if (state.pollFailed) say('now-status', '');        // the connection is back
    state.pollFailed = false;
  } catch (e) {
    if (e.name === 'AbortError' || !state.loggedIn) return;
    state.pollFailed = true;
    say('now-status', 'status: ' + e.message, 'error');
  } finally {
    if (state.pollAbort === ctl) state.pollAbort = null;
    $('#link-state').textContent = state.pollFailed ? 'offline' : 'live';
    $('#link-state').dataset.ok = String(!state.pollFailed);
  }
  if (state.pollSoon) { state.pollSoon = false; next = 0; }
  if (state.loggedIn) state.pollTimer = setTimeout(poll, next);
}

function jobText(j) {
  if (j.state === 'running') return `step ${j.step} / ${j.total}`;
  if (j.state === 'failed') return `failed: ${j.reason || 'unknown'}`;
  return j.state;                                        // queued, done, cancelled
}

// Rebuild a list only when its content changed (no flicker, no lost clicks at 4 Hz).
function setList(ul, items, make) {
  const key = JSON.stringify(items);
  if (ul.dataset.key === key) return;
  ul.dataset.key = key;
  ul.textContent = '';
  for (const it of items) ul.append(make(it));
}

function renderStatus(s) {
  state.lastStatus = s;
  const p = s.preset || {}, m = s.meters || {};
  $('#now-preset').textContent = p.bank || p.name ? `${p.bank || ''} / ${p.name || ''}` : '—';
  $('#now-prompt').textContent = s.prompt || '';
  $('#now-sound').textContent = s.sound ? `sound ${s.sound}` + (s.zones > 1 ? `, kit of ${s.zones} zones` : '') : '';
  $('#now-where').textContent = s.where || '';

  const peak = Math.max(0, Math.min(1, Number(m.peak) || 0));
  $('#meter-voices').textContent = String(m.voices || 0);
  $('#meter-peak').value = peak;
  $('#meter-peak').textContent = $('#meter-peak-text').textContent = peak.toFixed(2);
  $('#meter-xruns').textContent = String(m.xruns || 0);
  $('#meter-xruns').classList.toggle('warn', m.xruns > 0);
  $('#meter-audio').textContent = m.audio_ok ? 'ok' : 'down';
  $('#meter-audio').classList.toggle('bad', !m.audio_ok);
  const ports = Array.isArray(m.midi_ports) ? m.midi_ports.length : Number(m.midi_ports) || 0;
  $('#meter-midi').textContent = plural(ports, 'port');
  $('#model-state').textContent = s.model || '—';
  $('#model-state').dataset.state = s.model || '';

  setList($('#problems'), s.problems || [], (t) => el('li', { text: t }));
  const jobs = s.jobs || [];
  setList($('#jobs'), jobs.map((j) => [j.id, j.prompt, jobText(j), String(j.id) === String(state.follow)]),
    ([id, prompt, text, followed]) => el('li', { class: followed ? 'job followed' : 'job', 'data-job': id },
      el('span', { class: 'job-id', text: '#' + id }), el('span', { class: 'job-prompt', text: prompt }),
      el('span', { class: 'job-state', text })));
  $('#jobs-queued').textContent = s.queued ? `${s.queued} queued` : '';

  for (const row of document.querySelectorAll('.preset-row')) {   // mark what plays on Presets
    row.classList.toggle('current', row.dataset.bank === p.bank && row.dataset.name === p.name);
  }
  followJob(jobs);
}

// #job-state, #progress and #cancel track the job this page generated.
function followJob(jobs) {
  const j = jobs.find((x) => state.follow != null && String(x.id) === String(state.follow));
  if (!j) return;                               // not listed yet, or dropped off the list
  const bar = $('#progress'), active = j.state === 'queued' || j.state === 'running';
  $('#job-state').textContent = jobText(j);
  $('#job-eta').textContent = j.state === 'running' && j.remaining > 0 ? `about ${Math.ceil(j.remaining)} s left` : '';
  if (j.state === 'queued') bar.removeAttribute('value');            // indeterminate while it waits
  else if (j.state === 'running') { bar.max = j.total || 1; bar.value = j.step; }
  else if (j.state === 'done') bar.value = bar.max;
  $('#cancel').disabled = !active;
  if (j.state === 'done' && state.followState !== 'done') loadSounds(true);   // list the new sound
  state.followState = j.state;
}

async function generate(ev) {
  ev.preventDefault();
  const prompt = $('#prompt').value.trim();
  if (!prompt) return say('now-status', 'type a prompt first', 'error');
  $('#generate').disabled = true;
  await attempt('now-status', async () => {
    const d = await api('POST', '/api/generate', { prompt });
    Object.assign(state, { follow: d.job, followState: 'queued' });
    $('#job-state').textContent = 'queued';
    $('#job-eta').textContent = '';
    $('#progress').removeAttribute('value');
    $('#cancel').disabled = false;
    say('now-status', '');
    pollNow();
  });
  $('#generate').disabled = false;
}

async function cancelJob() {
  await attempt('now-status', async () => {
    const d = await api('POST', '/api/cancel', { job: state.follow });
    if (!d.cancelled) say('now-status', 'nothing to cancel');
    pollNow();
  });
}

// ---- Library ----------------------------------------------------------------------------------
const soundPath = (id) => '/api/sounds/' + enc(id);

function soundRow(s) {
  const id = String(s.id), info = [s.kind, s.seconds != null ? `${Number(s.seconds).toFixed(1)} s` : '', fmtDate(s.created)];
  return el('li', { class: 'sound-row', 'data-id': id },
    el('div', { class: 'row-text' },
      el('span', { class: 'sound-name', text: s.name || id }),
      el('span', { class: 'sound-info', text: info.filter(Boolean).join(' · ') }),
      s.prompt ? el('span', { class: 'sound-prompt', text: s.prompt }) : null),
    el('div', { class: 'row-actions' },
      el('button', { type: 'button', class: 'listen', text: 'Listen', title: 'listen here, in the browser' }),
      el('button', { type: 'button', class: 'play-on-instrument', text: 'Play', title: 'play it on the instrument' }),
      el('a', { class: 'download button', href: soundPath(id) + '/download', download: true, text: 'Download', title: 'zip: WAV + SFZ' }),
      el('button', { type: 'button', class: 'rename destructive', text: 'Rename' }),
      el('button', { type: 'button', class: 'delete destructive danger', text: 'Delete' })));
}

function updateCount() {
  $('#sound-count').textContent = `${lib.total} sound${lib.total === 1 ? '' : 's'}`;
  $('#more').hidden = lib.loaded >= lib.total;
}

// reset: a new search from offset 0; otherwise the next PAGE_SIZE (#more). An answer that
// arrives after a newer request was sent is dropped (fast typing, slow disk).
async function loadSounds(reset) {
  const seq = ++lib.seq, offset = reset ? 0 : lib.loaded, q = $('#search').value.trim();
  try {
    const d = await api('GET', `/api/sounds?q=${enc(q)}&offset=${offset}&limit=${PAGE_SIZE}`);
    if (seq !== lib.seq) return;
    const list = $('#sound-list'), sounds = d.sounds || [];
    if (reset) list.textContent = '';
    list.dataset.empty = q ? 'no sound matches' : 'no sounds yet';
    for (const s of sounds) list.append(soundRow(s));
    lib.loaded = offset + sounds.length;
    lib.total = Number(d.total) || 0;
    updateCount();
  } catch (e) {
    if (seq === lib.seq) say('library-status', e.message, 'error');
  }
}

async function listen(row) {
  const player = $('#player'), path = soundPath(row.dataset.id);
  for (const r of document.querySelectorAll('.sound-row.listening')) r.classList.remove('listening');
  row.classList.add('listening');
  $('#player-title').textContent = $('.sound-name', row).textContent;
  player.src = path + '/audio';
  player.play().catch(() => {});   // autoplay refused, or a newer sound: the controls still work
  wave.peaks = null;
  drawWave();
  wave.peaks = await attempt('library-status', () => api('GET', path + '/peaks?n=600'));
  drawWave();
}

// The waveform: one column per min/max pair, the part already played in the accent colour.
function drawWave() {
  const c = $('#waveform'), w = c.clientWidth, h = c.clientHeight;
  if (!w || !h) return;                                      // its page is hidden
  const dpr = window.devicePixelRatio || 1;
  if (c.width !== Math.round(w * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
  const ctx = c.getContext('2d'), css = getComputedStyle(document.documentElement), mid = h / 2;
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = css.getPropertyValue('--line');
  ctx.fillRect(0, mid - 0.5, w, 1);
  const p = wave.peaks;
  if (!p || !Array.isArray(p.max) || !p.max.length) return;
  const player = $('#player'), n = p.max.length, colW = w / n;
  const played = player.duration > 0 ? player.currentTime / player.duration : 0;
  const clip = (v) => Math.max(-1, Math.min(1, Number(v) || 0));
  const on = css.getPropertyValue('--accent'), off = css.getPropertyValue('--wave');
  for (let i = 0; i < n; i++) {
    const top = mid - clip(p.max[i]) * mid, bottom = mid - clip((p.min || [])[i]) * mid;
    ctx.fillStyle = i / n < played ? on : off;
    ctx.fillRect(i * colW, top, Math.max(colW, 1), Math.max(bottom - top, 1));
  }
}

// Inline rename: a text field with Save in place of the name (no prompt()).
function startRename(row) {
  if ($('.rename-form', row)) return $('.rename-input', row).focus();
  const nameEl = $('.sound-name', row);
  const input = el('input', { type: 'text', class: 'rename-input destructive', value: nameEl.textContent, 'aria-label': 'new name' });
  const form = el('form', { class: 'rename-form destructive' }, input,
    el('button', { type: 'submit', class: 'rename-save primary', text: 'Save' }),
    el('button', { type: 'button', class: 'rename-cancel', text: 'Cancel' }));
  nameEl.hidden = true;
  nameEl.after(form);
  input.select();
  input.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') endRename(row); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const name = input.value.trim();
    if (name) await attempt('library-status', async () => {
      const d = await api('POST', soundPath(row.dataset.id) + '/rename', { name });
      nameEl.textContent = d.name || name;          // as the library stored it
      endRename(row);
      say('library-status', `renamed to ${nameEl.textContent}`);
    });
  });
}

function endRename(row) {
  const form = $('.rename-form', row);
  if (form) form.remove();
  $('.sound-name', row).hidden = false;
}

// Delete asks first; a sound that presets still use (409) names them and asks again.
async function deleteSound(row) {
  const name = $('.sound-name', row).textContent, path = soundPath(row.dataset.id);
  if (!window.confirm(`Delete ${name}?`)) return;
  await attempt('library-status', async () => {
    try {
      await api('DELETE', path);
    } catch (e) {
      if (e.status !== 409) throw e;
      const users = (e.data.users || []).join(', ');
      say('library-status', `${name} is used by ${users}`, 'error');
      if (!window.confirm(`used by ${users}: delete anyway?`)) return;
      await api('DELETE', path + '?force=1');
    }
    row.remove();
    lib.loaded -= 1; lib.total -= 1;
    updateCount();
    say('library-status', `deleted ${name}`);
  });
}

function soundListClick(ev) {
  const btn = ev.target.closest('button'), row = ev.target.closest('.sound-row');
  if (!btn || !row) return;
  const c = btn.classList;
  if (c.contains('listen')) listen(row);
  else if (c.contains('rename')) startRename(row);
  else if (c.contains('rename-cancel')) endRename(row);
  else if (c.contains('delete')) deleteSound(row);
  else if (c.contains('play-on-instrument')) {
    attempt('library-status', async () => {
      await api('POST', soundPath(row.dataset.id) + '/play', {});
      say('library-status', `playing ${$('.sound-name', row).textContent}`);
      pollNow();
    });
  }
}

// Uploads go one at a time (each is imported on the instrument), a line for each file.
async function upload() {
  const input = $('#upload-file'), out = $('#upload-status'), files = Array.from(input.files || []);
  if (!files.length) return say('library-status', 'choose .wav, .flac or .zip (an SFZ with its samples) files first', 'error');
  out.textContent = '';
  $('#upload-button').disabled = true;
  for (const f of files) {
    const line = out.appendChild(el('li', { text: `${f.name}: uploading…` }));
    try {
      const d = await api('PUT', '/api/upload?name=' + enc(f.name), f, { raw: true, type: f.type || 'application/octet-stream' });
      const s = d.sound || {};
      let text = `${f.name}: imported as ${s.name || s.id}`;
      if (d.presets) {  // a zip: an SFZ kit with its samples, or a folder of sounds
        const names = d.presets.map((p) => p.name).concat(d.sounds.map((x) => x.name));
        text = `${f.name}: imported ${d.presets.length} preset(s), ${d.sounds.length} sound(s): ${names.join(', ')}`;
        if (d.problems.length) text += ` (${d.problems.join('; ')})`;
      }
      if (d.new === false) text += ' (already in the library)';
      if (d.warnings && d.warnings.length) text += ` (${d.warnings.join('; ')})`;
      line.textContent = text;
    } catch (e) {
      line.textContent = `${f.name}: ${e.message}`;
      line.className = 'error';
      if (e.status === 401) break;
    }
  }
  $('#upload-button').disabled = false;
  input.value = '';
  loadSounds(true);
}

// ---- Presets ----------------------------------------------------------------------------------
const presetQuery = (bank, name) => `bank=${enc(bank)}&name=${enc(name)}`;

function presetRow(p) {
  const info = [p.sound ? `sound ${p.sound}` : '', p.prompt].filter(Boolean).join(' · ');
  return el('li', { class: 'preset-row', 'data-bank': p.bank, 'data-name': p.name },
    el('div', { class: 'row-text' },
      el('span', { class: 'preset-name', text: p.name }),
      p.missing ? el('span', { class: 'badge', text: 'missing sound', title: Array.isArray(p.missing) ? p.missing.join(', ') : null }) : null,
      el('span', { class: 'preset-info', text: info })),
    el('div', { class: 'row-actions' },
      el('button', { type: 'button', class: 'load primary', text: 'Load' }),
      el('a', { class: 'download button', href: '/api/presets/download?' + presetQuery(p.bank, p.name), download: true, text: 'Download' }),
      el('button', { type: 'button', class: 'delete destructive danger', text: 'Delete' })));
}

async function loadPresets() {
  await attempt('presets-status', async () => {
    const d = await api('GET', '/api/presets');
    const banks = new Map();                                 // bank -> its presets, in order
    for (const p of d.presets || []) banks.set(p.bank, (banks.get(p.bank) || []).concat([p]));
    const box = $('#preset-list');
    box.textContent = '';
    if (!banks.size) box.append(el('p', { class: 'muted', text: 'no presets yet' }));
    for (const [bank, presets] of banks) {
      box.append(el('section', { class: 'bank', 'data-bank': bank },
        el('div', { class: 'bank-head' },
          el('h3', { text: bank }),
          el('span', { class: 'muted small', text: plural(presets.length, 'preset') }),
          el('a', { class: 'bank-download button', href: '/api/banks/download?bank=' + enc(bank), download: true, text: 'Download bank' })),
        el('ul', { class: 'list' }, ...presets.map((p) => presetRow(p)))));
    }
    if (state.lastStatus) renderStatus(state.lastStatus);   // marks the current preset
  });
}

function presetListClick(ev) {
  const btn = ev.target.closest('button'), row = ev.target.closest('.preset-row');
  if (!btn || !row) return;
  const { bank, name } = row.dataset;
  attempt('presets-status', async () => {
    if (btn.classList.contains('load')) {
      await api('POST', '/api/presets/load', { bank, name });
      say('presets-status', `loaded ${bank} / ${name}`);
      pollNow();
    } else if (btn.classList.contains('delete') && window.confirm(`Delete preset ${bank} / ${name}?`)) {
      await api('DELETE', '/api/presets?' + presetQuery(bank, name));
      say('presets-status', `deleted ${bank} / ${name}`);
      loadPresets();
    }
  });
}

async function savePreset(ev) {
  ev.preventDefault();
  const input = $('#preset-save-name'), name = input.value.trim();
  if (!name) return say('presets-status', 'type a name first', 'error');
  await attempt('presets-status', async () => {
    const d = await api('POST', '/api/presets/save', { name });
    say('presets-status', `saved ${d.bank || 'user'} / ${d.name || name}`);
    input.value = '';
    loadPresets();
  });
}

// ---- Settings ---------------------------------------------------------------------------------
// Each control keeps its row ({key, value, type, choices, ...}) as ctl.row.
function setControl(c, v) {
  const r = c.row;
  if (r.choices && r.choices.length) c.value = String(r.choices.findIndex((x) => String(x) === String(v)));
  else if (c.type === 'checkbox') c.checked = !!v;
  else c.value = v == null ? '' : fmtValue(v);
  const shown = c.parentNode && $('.setting-value', c.parentNode);   // kiosk: the value as text
  if (shown) shown.textContent = fmtValue(v);
}

function readControl(c) {
  const r = c.row;
  if (r.choices && r.choices.length) return r.choices[Number(c.value)];
  if (r.type === 'bool') return c.checked;
  if (r.type === 'int' || r.type === 'float') {
    const n = Number(c.value);
    if (c.value.trim() === '' || !isFinite(n)) throw new Error(`${r.key} needs a number`);
    if (r.type === 'int' && !Number.isInteger(n)) throw new Error(`${r.key} needs a whole number`);
    return n;
  }
  if (r.type === 'str') return c.value;
  try { return JSON.parse(c.value); } catch (e) { return c.value; }   // lists and the like
}

function settingRow(section, r) {
  const id = `setting-${section}-${r.key}`, num = r.type === 'int' || r.type === 'float';
  let c;
  if (r.choices && r.choices.length) c = el('select', {}, ...r.choices.map((ch, i) => el('option', { value: String(i), text: fmtValue(ch) })));
  else if (r.type === 'bool') c = el('input', { type: 'checkbox' });
  else if (num) c = el('input', { type: 'number', step: 'any', min: r.min, max: r.max, inputMode: r.type === 'int' ? 'numeric' : 'decimal' });
  else c = el('input', { type: 'text' });
  Object.assign(c, { id, className: 'destructive', title: r.doc || '', row: r });
  Object.assign(c.dataset, { section, key: r.key });
  c.addEventListener('change', () => changeSetting(c));
  const range = r.min != null || r.max != null ? ` (${r.min != null ? r.min : ''} … ${r.max != null ? r.max : ''})` : '';
  const wrap = el('div', { class: 'setting' }, el('label', { htmlFor: id, text: r.key }), c,
    el('span', { class: 'setting-value kiosk-only' }), el('small', { class: 'setting-doc', text: (r.doc || '') + range }));
  setControl(c, r.value);   // after wrap: it also fills the kiosk's read-only value
  return wrap;
}

async function changeSetting(c) {
  const { section, key } = c.dataset, old = c.row.value;
  try {
    const d = await api('POST', '/api/settings', { section, key, value: readControl(c) });
    c.row.value = d.value;
    setControl(c, d.value);                      // as the schema stored it
    say('settings-status', `${key} = ${fmtValue(d.value)}`);
  } catch (e) {
    setControl(c, old);
    say('settings-status', e.message, 'error');
  }
}

async function loadSettings() {
  await attempt('settings-status', async () => {
    const d = await api('GET', '/api/settings'), form = $('#settings-form');
    form.textContent = '';
    for (const section of Object.keys(d).filter((k) => Array.isArray(d[k]))) {
      form.append(el('fieldset', { class: 'settings-section', 'data-section': section },
        el('legend', { text: SECTION_TITLES[section] || section }),
        ...d[section].map((r) => settingRow(section, r))));
    }
  });
}

// ---- System -----------------------------------------------------------------------------------
async function loadSystem() {
  say('system-status', '');
  const fill = (path, id) => attempt('system-status', async () => {
    const d = await api('GET', path), pre = document.getElementById(id);
    pre.textContent = (d.lines || []).join('\n') || '(nothing)';
    pre.scrollTop = pre.scrollHeight;                 // the newest log lines
  });
  await Promise.all([fill('/api/doctor', 'doctor'), fill('/api/logs', 'logs')]);
}

// ---- start ------------------------------------------------------------------------------------
function wire() {
  const on = (sel, ev, fn) => $(sel).addEventListener(ev, fn);
  on('#login-form', 'submit', login);
  for (const p of PAGES) on('#tab-' + p, 'click', () => showPage(p));
  on('#prompt-form', 'submit', generate);
  on('#cancel', 'click', cancelJob);
  on('#prompt', 'input', () => { $('#prompt-count').textContent = `${$('#prompt').value.length} / 500`; });
  on('#search', 'input', () => {
    clearTimeout(lib.searchTimer);
    lib.searchTimer = setTimeout(() => loadSounds(true), 250);
  });
  on('#more', 'click', () => loadSounds(false));
  on('#sound-list', 'click', soundListClick);
  on('#upload-button', 'click', upload);
  for (const ev of ['timeupdate', 'seeked', 'loadedmetadata', 'ended']) on('#player', ev, drawWave);
  on('#waveform', 'click', (ev) => {                     // click the waveform to seek
    const player = $('#player');
    if (player.duration > 0 && isFinite(player.duration)) player.currentTime = (ev.offsetX / ev.target.clientWidth) * player.duration;
  });
  window.addEventListener('resize', drawWave);
  on('#preset-list', 'click', presetListClick);
  on('#preset-save-form', 'submit', savePreset);
  on('#settings-form', 'submit', (ev) => ev.preventDefault());
  on('#refresh-system', 'click', loadSystem);
  on('#logout', 'click', logout);
}

async function start() {
  wire();
  try {
    if (await refreshSession()) enterApp();
    else showLogin();
  } catch (e) {
    showLogin('cannot reach the instrument: ' + e.message);
  }
}

start();
