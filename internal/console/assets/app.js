// keyward console: a small client of the native API, through the console's
// same-origin endpoints. No token or secret is ever stored in the browser.
'use strict';

const main = document.getElementById('main');
const statusEl = document.getElementById('status');
const top = document.getElementById('top');
let me = null; // {login, role_id, permissions, csrf_token}
const onceSecrets = new Map(); // registration id -> client secret shown once (memory only)

const NAV = [
  { label: 'Users', path: '/console/users', perm: 'users-view' },
  { label: 'Roles', path: '/console/roles', perm: 'roles-view' },
  { label: 'API Keys', path: '/console/api-keys', perm: 'api-keys-manage' },
  { label: 'Authenticators', path: '/console/authenticators', perm: 'authenticators-manage' },
  { label: 'Audit Log', path: '/console/audit', perm: 'audit-view' },
  { label: 'Configuration', path: '/console/configuration', perm: 'api-registrations-manage' },
  { label: 'My Account', path: '/console/my-account', perm: '' },
];
const REGS = '/console/configuration/general/api-registrations';
const TYPE_NAMES = { api_key_policy: 'API Key Policy', api_access_policy: 'API Access Policy' };
const RULE_NAMES = { ip: 'IP Rule', xff: 'X-Forwarded-For Rule', psrun: 'PSRUN Rule' };
const OPTIONS = [
  { field: 'enforce_mfa', label: 'Enforce multi-factor authentication', desc: 'This setting is enabled by default. When enabled, requires users to abide by multi-factor authentication settings configured for Password Safe. Disabling this setting bypasses multi-factor authentication when accessing user accounts through API. This allows applications integrated with Password Safe using an API key to abide by multi-factor authentication settings configured for the application, as opposed to using the Password Safe settings.' },
  { field: 'client_certificate_required', label: 'Client Certificate Required', desc: 'When enabled, a client certificate is required with the web request, and if not enabled, client certificates are ignored and do not need to be present. A valid client certificate is any client certificate that is signed by a Certificate Authority trusted by the server on which BeyondInsight resides.' },
  { field: 'user_password_required', label: 'User Password Required', desc: 'When enabled, an additional Authorization header value containing the RunAs user password is required with the web request. If not enabled, this header value does not need to be present and is ignored if provided.' },
  { field: 'verify_psrun_signature', label: 'Verify PSRUN Signature', desc: 'The PSRUN signature is an extra level of authentication. It’s computed from the factors using a shared secret between the client and server. PSRUN sends the signature as part of the header during its API request. If enabled, the server recomputes the signature during factor validation and compares it against the one sent by the client. If the signatures match, the client’s identity is considered verified. The signature effectively keeps the client in sync with the server. Changing the secret on the server requires the client to be rebuilt and guarantees that out-of-date clients cannot authenticate.' },
];
const ROTATE_SENTENCE = 'Scripts using the old key will receive 401 Unauthorized until they use the new key.';

// ---- small DOM helpers

function h(tag, attrs, ...kids) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'text') el.textContent = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat()) {
    if (kid === null || kid === undefined || kid === false) continue;
    el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return el;
}

// scrollBox holds a table: on a narrow screen (200 % zoom) the table
// scrolls inside it instead of the page.
const scrollBox = (table) => h('div', { class: 'table-wrap' }, table);

let uid = 0;
const nextId = (p) => `${p}-${++uid}`;

// field makes a labelled control; its error element follows it.
function field(label, control, name) {
  const id = control.id || nextId('f');
  control.id = id;
  if (name) control.dataset.field = name;
  const err = h('div', { class: 'error', id: id + '-err' });
  const wrap = h('div', { class: 'field' }, h('label', { for: id, text: label }), control, err);
  return wrap;
}

function say(msg) {
  statusEl.textContent = '';
  // A fresh text node, so that the same message is announced again.
  setTimeout(() => { statusEl.textContent = msg; }, 10);
}

function clearErrors(root) {
  root.querySelectorAll('.error').forEach((e) => { e.textContent = ''; });
  root.querySelectorAll('[aria-invalid]').forEach((e) => { e.removeAttribute('aria-invalid'); e.removeAttribute('aria-errormessage'); });
}

// showError puts a native error next to its field (or in the status region).
function showError(root, res) {
  const e = (res.data && res.data.error) || {};
  let msg = e.message || `Request failed (${res.status})`;
  if (res.status === 403) msg = `Forbidden: ${msg}`;
  const el = e.field && root.querySelector(`[data-field="${CSS.escape(e.field)}"]`);
  if (el) {
    const err = document.getElementById(el.id + '-err');
    if (err) err.textContent = msg;
    el.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-errormessage', el.id + '-err');
    el.focus();
  }
  say(msg);
}

// guard ignores a second activation while the first is still running
// (a double click, or Enter pressed twice).
function guard(fn) {
  let busy = false;
  return async (ev) => {
    if (ev && ev.preventDefault && ev.type === 'submit') ev.preventDefault();
    if (busy) return;
    busy = true;
    try { await fn(ev); } finally { busy = false; }
  };
}

// ---- requests

async function call(method, url, body) {
  const opts = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (method !== 'GET') opts.headers['X-CSRF-Token'] = me ? me.csrf_token : '';
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const r = await fetch(url, opts);
  let data = null;
  const text = await r.text();
  if (text) { try { data = JSON.parse(text); } catch (_) { data = null; } }
  if (r.status === 401 && me && url.startsWith('/console/api/v1/')) {
    me = null;
    renderSignIn();
  }
  return { status: r.status, ok: r.ok, data };
}

const api = (method, path, body) => call(method, '/console/api/v1' + path, body);
const has = (perm) => !perm || (me && me.permissions.includes(perm));

// ---- dialogs: focus trapped, Escape cancels, focus returns

function dialog(title, body, buttons) {
  const opener = document.activeElement;
  const titleId = nextId('dlg');
  const box = h('div', { class: 'dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': titleId },
    h('h2', { id: titleId, text: title }), body, h('div', { class: 'row' }, buttons));
  const back = h('div', { class: 'backdrop' }, box);
  const close = () => { back.remove(); document.removeEventListener('keydown', onKey, true); if (opener && opener.isConnected) opener.focus(); };
  const focusables = () => [...box.querySelectorAll('button, input, select, textarea, a[href]')].filter((e) => !e.disabled);
  const onKey = (ev) => {
    if (ev.key === 'Escape') { ev.preventDefault(); close(); }
    if (ev.key === 'Tab') {
      const f = focusables();
      if (!f.length) return;
      const first = f[0]; const last = f[f.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
      else if (!box.contains(document.activeElement)) { ev.preventDefault(); first.focus(); }
    }
  };
  document.addEventListener('keydown', onKey, true);
  document.body.append(back);
  const f = focusables();
  if (f.length) f[0].focus();
  return { close, box };
}

// ---- sign-in

function renderSignIn() {
  top.replaceChildren(h('span', { class: 'brand', text: 'keyward console' }));
  const login = h('input', { type: 'text', name: 'login', autocomplete: 'username', required: true });
  const password = h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true });
  const form = h('form', { novalidate: true },
    field('Login', login), field('Password', password), h('button', { type: 'submit', text: 'Sign In' }));
  form.addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    if (!login.value || !password.value) { say('Enter your login and password'); return; }
    const r = await call('POST', '/console/api/sign-in', { login: login.value, password: password.value });
    password.value = '';
    if (!r.ok) { say('Sign-in failed'); login.focus(); return; }
    if (r.data.step === 'code') { renderCode(); return; }
    await boot();
  }));
  main.replaceChildren(h('h1', { text: 'Sign in' }), form);
  login.focus();
}

function renderCode() {
  const code = h('input', { type: 'text', name: 'code', inputmode: 'numeric', autocomplete: 'one-time-code', required: true });
  const form = h('form', { novalidate: true }, field('Authentication code', code), h('button', { type: 'submit', text: 'Verify' }));
  form.addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    if (!code.value.trim()) { say('Enter the authentication code'); return; }
    const r = await call('POST', '/console/api/sign-in/code', { code: code.value });
    code.value = '';
    if (!r.ok) { say('Sign-in failed'); renderSignIn(); return; }
    await boot();
  }));
  main.replaceChildren(h('h1', { text: 'Sign in' }), h('p', { text: 'Enter the code from your authenticator app.' }), form);
  code.focus();
}

// ---- shell and routing

function renderTop() {
  const here = location.pathname;
  const items = NAV.filter((n) => has(n.perm)).map((n) => {
    const a = h('a', { href: n.path, text: n.label, 'data-nav': true });
    if (here === n.path || here.startsWith(n.path + '/')) a.setAttribute('aria-current', 'page');
    return h('li', {}, a);
  });
  const out = h('button', { type: 'button', class: 'signout', text: 'Sign Out', onclick: signOut });
  top.replaceChildren(h('span', { class: 'brand', text: 'keyward console' }),
    h('nav', { 'aria-label': 'Main' }, h('ul', {}, items)),
    h('div', { class: 'who' }, h('span', { text: `Signed in as ${me.login}` }), out));
}

async function signOut() {
  await call('POST', '/console/api/sign-out');
  me = null;
  history.pushState(null, '', '/console/');
  renderSignIn();
  say('Signed out');
}

function go(path) {
  statusEl.textContent = '';
  history.pushState(null, '', path);
  route();
}

document.addEventListener('click', (ev) => {
  const a = ev.target.closest && ev.target.closest('a[href^="/console/"]');
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  if (a.getAttribute('href').startsWith('/console/assets/')) return;
  ev.preventDefault();
  go(a.getAttribute('href'));
});
window.addEventListener('popstate', () => { if (me) route(); });

async function boot() {
  const r = await call('GET', '/console/api/session');
  if (!r.ok || !r.data.signed_in) { me = null; renderSignIn(); return; }
  me = r.data;
  await route();
}

function forbidden(perm) {
  main.replaceChildren(h('h1', { text: 'Forbidden' }), h('p', { text: `Missing permission: ${perm}` }));
}

async function route() {
  renderTop();
  const p = location.pathname.replace(/\/+$/, '') || '/console';
  const entry = NAV.find((n) => p === n.path || p.startsWith(n.path + '/'));
  if (entry && !has(entry.perm)) { forbidden(entry.perm); return; }
  main.replaceChildren();
  try {
    if (p === '/console') renderHome();
    else if (p === '/console/configuration') renderConfiguration();
    else if (p === '/console/configuration/general') renderConfiguration();
    else if (p === REGS) await renderRegistrations();
    else if (p === REGS + '/new') renderNewRegistration();
    else if (p.startsWith(REGS + '/')) await renderRegistration(decodeURIComponent(p.slice(REGS.length + 1)));
    else if (p === '/console/audit') await renderAudit();
    else if (p === '/console/users') await renderUsers();
    else if (p.startsWith('/console/users/')) await renderUser(decodeURIComponent(p.slice('/console/users/'.length)));
    else if (p === '/console/roles') await renderRoles();
    else if (p === '/console/api-keys') await renderAPIKeys();
    else if (p === '/console/authenticators') await renderAuthenticators();
    else if (p === '/console/my-account') await renderMyAccount();
    else main.replaceChildren(h('h1', { text: 'Not found' }), h('p', { text: 'There is no console page at this address.' }));
  } catch (e) {
    say('The page could not be shown: ' + e.message);
  }
  const h1 = main.querySelector('h1');
  // The new page's heading takes the focus, as after a page load: a
  // screen reader announces it, and Tab goes on from there.
  if (h1) { h1.tabIndex = -1; document.title = h1.textContent + ' · keyward console'; h1.focus(); }
}

function renderHome() {
  main.append(h('h1', { text: 'keyward console' }), h('p', { text: `Signed in as ${me.login} (${me.role_id}), security level ${me.level}.` }));
}

function renderConfiguration() {
  main.append(h('h1', { text: 'Configuration' }), h('h2', { text: 'General' }),
    h('ul', {}, h('li', {}, h('a', { href: REGS, text: 'API Registrations' }))));
}

// ---- API registrations

const fmtTime = (t) => (t ? new Date(t).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC') : 'Never');

async function renderRegistrations() {
  const r = await api('GET', '/api-registrations?limit=1000');
  main.append(h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: '/console/configuration', text: 'Configuration' }), ' > General > API Registrations'),
    h('h1', { text: 'API Registrations' }),
    h('a', { href: REGS + '/new', text: 'Create New API Registration', class: 'button' }));
  if (!r.ok) { showError(main, r); return; }
  const rows = r.data.items.map((g) => h('tr', {},
    h('td', {}, h('a', { href: `${REGS}/${encodeURIComponent(g.id)}`, text: g.name })),
    h('td', { text: TYPE_NAMES[g.type] || g.type }),
    h('td', { text: g.key_masked || g.client_id || '' }),
    h('td', { text: String(g.rules.length) }),
    h('td', { text: fmtTime(g.last_used_at) })));
  main.append(scrollBox(h('table', {}, h('caption', { text: `${r.data.total} registrations` }),
    h('thead', {}, h('tr', {}, ['Name', 'Type', 'Key', 'Rules', 'Last Use'].map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, rows))));
}

function renderNewRegistration() {
  const name = h('input', { type: 'text', name: 'name', required: true });
  const typeName = nextId('type');
  const radio = (value, label, checked) => {
    const id = nextId('r');
    return h('div', {}, h('input', { type: 'radio', id, name: typeName, value, checked }), h('label', { for: id, class: 'inline', text: label }));
  };
  const types = h('fieldset', { 'data-field': 'type', id: nextId('types') }, h('legend', { text: 'Type' }),
    radio('api_key_policy', 'API Key Policy', true), radio('api_access_policy', 'API Access Policy', false));
  const runAs = h('input', { type: 'text', 'aria-describedby': 'runas-note' });
  const form = h('form', { novalidate: true }, field('Name', name, 'name'), types,
    h('div', { class: 'error', id: types.id + '-err' }),
    field('Run As', runAs, 'run_as'), h('p', { class: 'note', id: 'runas-note', text: 'API Access Policy only: the user its tokens sign in as.' }),
    h('button', { type: 'submit', text: 'Create API Registration' }));
  form.addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const type = form.querySelector(`input[name="${typeName}"]:checked`).value;
    const body = { name: name.value, type };
    if (type === 'api_access_policy') body.run_as = runAs.value.trim();
    const r = await api('POST', '/api-registrations', body);
    if (!r.ok) { showError(form, r); return; }
    if (r.data.client_secret) onceSecrets.set(r.data.id, r.data.client_secret);
    say(`API registration ${r.data.name} created`);
    go(`${REGS}/${encodeURIComponent(r.data.id)}`);
  }));
  main.append(h('h1', { text: 'Create New API Registration' }), form);
}

// secretField is a read-only field with show (and copy, rotate) buttons.
function secretRow(label, masked, name) {
  const input = h('input', { type: 'text', readonly: true, class: 'wide', value: masked, spellcheck: 'false' });
  return { input, el: field(label, input, name) };
}

async function copy(text, what) {
  await navigator.clipboard.writeText(text);
  say(`Copied ${what}`.trim() === 'Copied' ? 'Copied' : 'Copied');
}

async function renderRegistration(id) {
  const r = await api('GET', `/api-registrations/${encodeURIComponent(id)}`);
  if (!r.ok) { main.append(h('h1', { text: 'API Registration' })); showError(main, r); return; }
  const g = r.data;
  const keyPolicy = g.type === 'api_key_policy';
  main.append(h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: '/console/configuration', text: 'Configuration' }), ' > General > ',
    h('a', { href: REGS, text: 'API Registrations' })),
  h('h1', { text: g.name }), h('p', { text: `Type: ${TYPE_NAMES[g.type] || g.type}` }));

  const secrets = async () => {
    const s = await api('GET', `/api-registrations/${encodeURIComponent(id)}/key`);
    if (!s.ok) { showError(main, s); return null; }
    return s.data;
  };
  const details = h('section', { 'aria-label': 'Credentials' });
  main.append(details);
  if (keyPolicy) {
    const key = secretRow('Key', g.key_masked, 'key');
    const psrun = secretRow('PSRUN Secret', '********', 'psrun_secret');
    let rotateBtn;
    const rotate = () => {
      const yes = h('button', { type: 'button', text: 'Rotate Key' });
      const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
      const d = dialog('Rotate Key', h('p', { text: ROTATE_SENTENCE }), [yes, no]);
      no.addEventListener('click', () => d.close());
      yes.addEventListener('click', async () => {
        d.close();
        const s = await api('POST', `/api-registrations/${encodeURIComponent(id)}/rotate`);
        if (!s.ok) { showError(main, s); return; }
        key.input.value = '********' + s.data.key.slice(-4);
        say('Key rotated');
      });
    };
    rotateBtn = h('button', { type: 'button', class: 'secondary', onclick: rotate }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '↻' }), 'Rotate Key');
    details.append(key.el, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => { const s = await secrets(); if (s) { key.input.value = s.key; say('Key shown'); } }) },
        h('span', { class: 'icon', 'aria-hidden': 'true', text: '◉' }), 'Show Key'),
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => {
        let v = key.input.value;
        if (v.startsWith('*')) { const s = await secrets(); if (!s) return; v = s.key; }
        await copy(v, '');
      }) }, 'Copy Key'),
      rotateBtn),
    psrun.el, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => { const s = await secrets(); if (s) { psrun.input.value = s.psrun_secret; say('PSRUN secret shown'); } }) }, 'Show PSRUN Secret'),
      h('button', { type: 'button', class: 'secondary', onclick: () => {
        const yes = h('button', { type: 'button', text: 'Rotate PSRUN Secret' });
        const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
        const d = dialog('Rotate PSRUN Secret', h('p', { text: 'PSRUN clients built with the old secret cannot authenticate until they are rebuilt with the new one.' }), [yes, no]);
        no.addEventListener('click', () => d.close());
        yes.addEventListener('click', async () => {
          d.close();
          const s = await api('POST', `/api-registrations/${encodeURIComponent(id)}/psrun-secret/rotate`);
          if (!s.ok) { showError(main, s); return; }
          psrun.input.value = '********';
          say('PSRUN secret rotated');
        });
      } }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '↻' }), 'Rotate PSRUN Secret')));
  } else {
    const cid = secretRow('Client ID', g.client_id, 'client_id');
    const once = onceSecrets.get(id);
    onceSecrets.delete(id);
    const sec = secretRow('Client Secret', once || '********', 'client_secret');
    details.append(cid.el, sec.el, h('div', { class: 'row' },
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => { const s = await secrets(); if (s) { sec.input.value = s.client_secret; say('Client secret shown'); } }) }, 'Show Client Secret'),
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => { let v = sec.input.value; if (v.startsWith('*')) { const s = await secrets(); if (!s) return; v = s.client_secret; } await copy(v, ''); }) }, 'Copy Client Secret'),
      h('button', { type: 'button', class: 'secondary', onclick: () => {
        const yes = h('button', { type: 'button', text: 'Rotate Client Secret' });
        const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
        const d = dialog('Rotate Client Secret', h('p', { text: 'Clients using the old secret will receive 401 Unauthorized until they use the new secret.' }), [yes, no]);
        no.addEventListener('click', () => d.close());
        yes.addEventListener('click', async () => {
          d.close();
          const s = await api('POST', `/api-registrations/${encodeURIComponent(id)}/rotate`);
          if (!s.ok) { showError(main, s); return; }
          sec.input.value = s.data.client_secret;
          say('Client secret rotated; it is shown once');
        });
      } }, h('span', { class: 'icon', 'aria-hidden': 'true', text: '↻' }), 'Rotate Client Secret')));
  }

  // options, run-as principals and rules, saved together
  const form = h('form', { novalidate: true });
  const boxes = {};
  if (keyPolicy) {
    const opts = h('fieldset', {}, h('legend', { text: 'Authentication Rule Options' }));
    for (const o of OPTIONS) {
      const id2 = nextId('opt'); const did = id2 + '-desc';
      const cb = h('input', { type: 'checkbox', id: id2, 'aria-describedby': did, checked: g[o.field] });
      cb.dataset.field = o.field;
      boxes[o.field] = cb;
      opts.append(h('label', { class: 'check', for: id2 }, cb, o.label), h('p', { class: 'desc', id: did, text: o.desc }),
        h('div', { class: 'error', id: id2 + '-err' }));
    }
    form.append(opts);
  } else {
    const cb = h('input', { type: 'checkbox', id: nextId('opt'), checked: g.client_certificate_required });
    cb.dataset.field = 'client_certificate_required';
    boxes.client_certificate_required = cb;
    form.append(h('fieldset', {}, h('legend', { text: 'Authentication Rule Options' }), h('label', { class: 'check', for: cb.id }, cb, OPTIONS[1].label),
      h('p', { class: 'desc', text: OPTIONS[1].desc })));
  }
  let selects = null;
  let runAs = null;
  const [users, roles] = await Promise.all([has('users-view') ? api('GET', '/users?limit=1000') : null, has('roles-view') ? api('GET', '/roles?limit=1000') : null]);
  const userItems = users && users.ok ? users.data.items : [];
  const roleItems = roles && roles.ok ? roles.data.items : [];
  if (keyPolicy) {
    const allowed = new Set(g.allowed || []);
    const sel = (label, kind, items, nameOf) => {
      const s = h('select', { multiple: true, size: 6 }, items.map((it) => {
        const v = `${kind}:${nameOf(it)}`;
        return h('option', { value: v, selected: allowed.has(v), text: nameOf(it) });
      }));
      return { s, el: field(label, s) };
    };
    const bare = (u) => u.login.replace(/^host\//, '');
    selects = [sel('Users', 'user', userItems.filter((u) => u.kind === 'user'), bare),
      sel('Hosts', 'host', userItems.filter((u) => u.kind === 'host'), bare),
      sel('Roles', 'role', roleItems, (ro) => ro.name)];
    // entries the lists do not hold (e.g. principals not visible) are kept
    const listed = new Set(selects.flatMap((x) => [...x.s.options].map((o) => o.value)));
    const kept = [...allowed].filter((v) => !listed.has(v));
    const fs = h('fieldset', { id: nextId('runas') }, h('legend', { text: 'Run As' }), h('div', { class: 'row' }, selects.map((x) => x.el)),
      kept.length ? h('p', { class: 'note', text: `Also allowed: ${kept.join(', ')}` }) : null);
    fs.dataset.field = 'allowed';
    form.append(fs, h('div', { class: 'error', id: fs.id + '-err' }));
    selects.kept = kept;
  } else {
    runAs = h('input', { type: 'text', value: g.run_as || '' });
    form.append(field('Run As', runAs, 'run_as'));
  }

  // rules
  let rules = g.rules.map((x) => ({ ...x }));
  const tbody = h('tbody');
  const drawRules = () => {
    tbody.replaceChildren(...rules.map((x, i) => h('tr', {},
      h('td', { text: RULE_NAMES[x.type] || x.type }), h('td', { text: x.value }),
      h('td', {}, h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove ${RULE_NAMES[x.type] || x.type} ${x.value}`,
        onclick: () => { rules.splice(i, 1); drawRules(); say(`Rule ${x.value} removed; Update Registration saves it`); } }, 'Remove')))));
    if (!rules.length) tbody.append(h('tr', {}, h('td', { colspan: '3', text: 'No rules yet.' })));
  };
  drawRules();
  const rulesTable = h('table', { id: nextId('rules') }, h('caption', { text: 'Authentication Rules' }),
    h('thead', {}, h('tr', {}, ['Type', 'Address', 'Action'].map((c) => h('th', { scope: 'col', text: c })))), tbody);
  rulesTable.dataset.field = 'rules';
  rulesTable.tabIndex = -1;
  const addRule = () => {
    const typeSel = h('select', {}, Object.entries(RULE_NAMES).map(([v, l]) => h('option', { value: v, text: l })));
    const addrs = h('textarea', { rows: 5 });
    const body = h('div', {}, field('Rule Type', typeSel), field('Addresses', addrs),
      h('p', { class: 'note', text: 'One IP address, IP range or CIDR per line; each line becomes one rule.' }),
      h('p', { text: 'At least one IP rule or PSRUN rule is required.' }),
      h('p', { text: 'An X-Forwarded-For rule makes the X-Forwarded-For header mandatory on every request.' }));
    const create = h('button', { type: 'button', text: 'Create Rule' });
    const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const d = dialog('Add Authentication Rule', body, [create, cancel]);
    cancel.addEventListener('click', () => d.close());
    create.addEventListener('click', () => {
      const lines = addrs.value.split('\n').map((s) => s.trim()).filter(Boolean);
      if (!lines.length) { document.getElementById(addrs.id + '-err').textContent = 'Enter at least one address.'; addrs.focus(); return; }
      for (const v of lines) rules.push({ type: typeSel.value, value: v });
      d.close();
      drawRules();
      say(`${lines.length} rule${lines.length > 1 ? 's' : ''} added; Update Registration saves them`);
    });
  };
  form.append(h('h2', { text: 'Authentication Rules' }), scrollBox(rulesTable), h('div', { class: 'error', id: rulesTable.id + '-err' }),
    h('button', { type: 'button', class: 'secondary', onclick: addRule, text: 'Add Authentication Rule' }),
    h('div', {}, h('button', { type: 'submit', text: 'Update Registration' })));
  form.addEventListener('submit', guard(async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    const body = { rules: rules.map((x) => (x.id ? { id: x.id, type: x.type, value: x.value } : { type: x.type, value: x.value })) };
    for (const [k, cb] of Object.entries(boxes)) body[k] = cb.checked;
    if (selects) body.allowed = [...selects.flatMap((x) => [...x.s.selectedOptions].map((o) => o.value)), ...selects.kept];
    if (runAs) body.run_as = runAs.value;
    const s = await api('PATCH', `/api-registrations/${encodeURIComponent(id)}`, body);
    if (!s.ok) { showError(form, s); return; }
    rules = s.data.rules.map((x) => ({ ...x }));
    drawRules();
    say('Registration updated');
  }));
  main.append(form);
}

// ---- audit log

const AUDIT_FILTERS = [
  ['Event', 'event'], ['Outcome', 'outcome'], ['Actor', 'actor'], ['Key ID', 'key_id'], ['Client Address', 'client_ip'],
];

function toLocalInput(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (isNaN(d)) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

async function renderAudit() {
  const q = new URLSearchParams(location.search);
  const form = h('form', { novalidate: true, class: 'filters' });
  const inputs = {};
  const row = h('div', { class: 'row' });
  for (const [label, name] of AUDIT_FILTERS) {
    let c;
    if (name === 'outcome') {
      c = h('select', {}, h('option', { value: '', text: 'Any' }), h('option', { value: 'success', text: 'success' }), h('option', { value: 'failure', text: 'failure' }));
      c.value = q.get(name) || '';
    } else c = h('input', { type: 'text', value: q.get(name) || '' });
    inputs[name] = c;
    row.append(field(label, c, name));
  }
  inputs.since = h('input', { type: 'datetime-local', value: toLocalInput(q.get('since')) });
  inputs.until = h('input', { type: 'datetime-local', value: toLocalInput(q.get('until')) });
  row.append(field('From', inputs.since, 'since'), field('Until', inputs.until, 'until'), h('button', { type: 'submit', text: 'Filter' }));
  form.append(row);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams();
    for (const [name, c] of Object.entries(inputs)) {
      if (!c.value) continue;
      p.set(name, name === 'since' || name === 'until' ? new Date(c.value).toISOString() : c.value.trim());
    }
    go('/console/audit' + (p.toString() ? '?' + p : ''));
  });
  main.append(h('h1', { text: 'Audit Log' }), form);
  const limit = 50;
  const offset = Math.max(0, parseInt(q.get('offset') || '0', 10) || 0);
  const aq = new URLSearchParams();
  for (const name of ['event', 'outcome', 'actor', 'key_id', 'client_ip', 'since', 'until']) if (q.get(name)) aq.set(name, q.get(name));
  aq.set('limit', String(limit)); aq.set('offset', String(offset));
  const r = await api('GET', '/audit?' + aq);
  if (!r.ok) { showError(form, r); return; }
  const cols = ['Time', 'Event', 'Outcome', 'Reason', 'Actor', 'Subject', 'Client Address', 'Request ID'];
  const rows = r.data.items.map((x) => h('tr', {}, [x.time, x.event, x.outcome, x.reason || '', x.actor, x.subject, x.client_ip, x.request_id].map((v) => h('td', { text: v }))));
  main.append(scrollBox(h('table', {}, h('caption', { text: `${r.data.total} records` }),
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))), h('tbody', {}, rows))));
  const pageLink = (label, off) => { const p = new URLSearchParams(q); p.set('offset', String(off)); return h('a', { href: '/console/audit?' + p, text: label }); };
  main.append(h('nav', { 'aria-label': 'Pages', class: 'row' },
    offset > 0 ? pageLink('Previous page', Math.max(0, offset - limit)) : null,
    offset + limit < r.data.total ? pageLink('Next page', offset + limit) : null));
}

// ---- other pages (lists through the native API)

async function listPage(title, path, cols, cells) {
  main.append(h('h1', { text: title }));
  const r = await api('GET', path);
  if (!r.ok) { showError(main, r); return null; }
  const items = r.data.items || [];
  main.append(scrollBox(h('table', {}, h('caption', { text: `${r.data.total ?? items.length} ${title.toLowerCase()}` }),
    h('thead', {}, h('tr', {}, cols.map((c) => h('th', { scope: 'col', text: c })))),
    h('tbody', {}, items.map((it) => h('tr', {}, cells(it).map((v) => (v instanceof Node ? h('td', {}, v) : h('td', { text: v ?? '' })))))))));
  return r.data;
}

async function renderUsers() {
  const q = new URLSearchParams(location.search);
  const search = h('input', { type: 'search', value: q.get('search') || '' });
  const form = h('form', { class: 'row', role: 'search' }, field('Search', search), h('button', { type: 'submit', text: 'Search' }));
  form.addEventListener('submit', (ev) => { ev.preventDefault(); go('/console/users' + (search.value ? '?search=' + encodeURIComponent(search.value) : '')); });
  const limit = 50;
  const offset = Math.max(0, parseInt(q.get('offset') || '0', 10) || 0);
  const aq = new URLSearchParams({ limit: String(limit), offset: String(offset) });
  if (q.get('search')) aq.set('search', q.get('search'));
  const data = await listPage('Users', '/users?' + aq, ['Login', 'Kind', 'Status', 'MFA', 'Email'],
    (u) => [h('a', { href: '/console/users/' + encodeURIComponent(u.id), text: u.login }), u.kind, u.status, u.mfa || 'none', u.email || '']);
  main.insertBefore(form, main.children[1]);
  if (data) {
    const pageLink = (label, off) => { const p = new URLSearchParams(q); p.set('offset', String(off)); return h('a', { href: '/console/users?' + p, text: label }); };
    main.append(h('nav', { 'aria-label': 'Pages', class: 'row' }, offset > 0 ? pageLink('Previous page', Math.max(0, offset - limit)) : null,
      offset + limit < data.total ? pageLink('Next page', offset + limit) : null));
  }
  if (!has('users-manage')) return;
  const login = h('input', { type: 'text' });
  const kind = h('select', {}, h('option', { value: 'user', text: 'user' }), h('option', { value: 'host', text: 'host' }));
  const pw = h('input', { type: 'password', autocomplete: 'new-password' });
  const email = h('input', { type: 'text' });
  const dn = h('input', { type: 'text' });
  const cf = h('form', { novalidate: true }, h('h2', { text: 'Create user' }),
    h('div', { class: 'row' }, field('Login', login, 'login'), field('Kind', kind, 'kind'), field('Password', pw, 'password'),
      field('Email', email, 'email'), field('Display name', dn, 'display_name')), h('button', { type: 'submit', text: 'Create User' }));
  cf.addEventListener('submit', guard(async () => {
    clearErrors(cf);
    const body = { login: login.value, kind: kind.value, email: email.value, display_name: dn.value };
    if (pw.value) body.password = pw.value;
    const r = await api('POST', '/users', body);
    pw.value = '';
    if (!r.ok) { showError(cf, r); return; }
    say(`User ${r.data.login} created`);
    go('/console/users/' + encodeURIComponent(r.data.id));
  }));
  main.append(cf);
}

async function renderUser(id) {
  const r = await api('GET', '/users/' + encodeURIComponent(id));
  if (!r.ok) { main.append(h('h1', { text: 'User' })); showError(main, r); return; }
  const u = r.data;
  main.append(h('nav', { 'aria-label': 'Breadcrumb' }, h('a', { href: '/console/users', text: 'Users' })), h('h1', { text: u.login }),
    h('p', { text: `${u.kind} · ${u.role_id} · MFA: ${u.mfa || 'none'}` }));
  const manage = has('users-manage');
  const email = h('input', { type: 'text', value: u.email || '' });
  const dn = h('input', { type: 'text', value: u.display_name || '' });
  const status = h('select', {}, h('option', { value: 'active', text: 'active' }), h('option', { value: 'disabled', text: 'disabled' }));
  status.value = u.status;
  const restricted = h('input', { type: 'text', value: (u.restricted_to || []).join(', ') });
  const ann = h('textarea', { rows: 4, value: Object.entries(u.annotations || {}).map(([k, v]) => `${k}=${v}`).join('\n') });
  const pf = h('form', { novalidate: true }, h('h2', { text: 'Profile' }),
    h('div', { class: 'row' }, field('Email', email, 'email'), field('Display name', dn, 'display_name'), field('Status', status, 'status'),
      field('Network restriction', restricted, 'restricted_to')), field('Annotations', ann, 'annotations'),
    manage ? h('button', { type: 'submit', text: 'Save User' }) : null);
  pf.addEventListener('submit', guard(async () => {
    clearErrors(pf);
    const annotations = {};
    const lines = ann.value.split('\n').map((x) => x.trim()).filter(Boolean);
    for (const k of Object.keys(u.annotations || {})) annotations[k] = null;
    for (const l of lines) { const i = l.indexOf('='); if (i > 0) annotations[l.slice(0, i).trim()] = l.slice(i + 1).trim(); }
    const body = { email: email.value, display_name: dn.value, status: status.value, annotations,
      restricted_to: restricted.value.split(',').map((x) => x.trim()).filter(Boolean) };
    const s2 = await api('PATCH', '/users/' + encodeURIComponent(id), body);
    if (!s2.ok) { showError(pf, s2); return; }
    Object.assign(u, s2.data);
    say('User saved');
  }));
  main.append(pf);
  await grantsPanel(id, manage);
  if (manage && u.kind === 'user') {
    const mfaBox = h('section', { 'aria-labelledby': 'mfa-u' }, h('h2', { id: 'mfa-u', text: 'Second factor' }), h('p', { text: `MFA: ${u.mfa || 'none'}` }));
    if (u.mfa && u.mfa !== 'none') {
      mfaBox.append(h('button', { type: 'button', class: 'secondary', onclick: () => {
        const yes = h('button', { type: 'button', text: 'Reset MFA' });
        const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
        const d = dialog('Reset MFA', h('p', { text: `${u.login} will sign in with a password alone until TOTP is enrolled again.` }), [yes, no]);
        no.addEventListener('click', () => d.close());
        yes.addEventListener('click', guard(async () => {
          const s2 = await api('DELETE', `/users/${encodeURIComponent(id)}/mfa`);
          d.close();
          if (!s2.ok) { showError(main, s2); return; }
          say('MFA reset');
          await route();
        }));
      } }, 'Reset MFA'));
    }
    main.append(mfaBox);
  }
  if (has('api-keys-manage')) {
    const keys = h('section', { 'aria-labelledby': 'keys-u' }, h('h2', { id: 'keys-u', text: 'API keys' }));
    main.append(keys);
    await keysPanel(id, keys);
  }
}

const GRANT_TYPES = { PERMANENT: 'Permanent', TIME_RESTRICTED: 'Time-restricted', FLOATING: 'Floating' };

// grantsPanel shows a user's role grants and, with users-manage, edits the
// explicit ones (saved together with PUT /users/{id}/roles).
async function grantsPanel(id, manage) {
  const g = await api('GET', `/users/${encodeURIComponent(id)}/roles`);
  if (!g.ok) return;
  const rolesR = has('roles-view') ? await api('GET', '/roles?limit=1000') : null;
  const roleList = rolesR && rolesR.ok ? rolesR.data.items : [];
  const roleName = (rid) => (roleList.find((r) => r.id === rid) || { name: rid }).name;
  const all = g.data.roles || [];
  const mapped = all.filter((x) => x.source && x.source !== 'explicit');
  let grants = all.filter((x) => !x.source || x.source === 'explicit').map((x) => ({ ...x }));
  const section = h('section', { 'aria-labelledby': 'grants-h' }, h('h2', { id: 'grants-h', text: 'Role grants' }));
  const tbody = h('tbody');
  const describe = (x) => (x.type === 'TIME_RESTRICTED' ? (x.periods || []).map((p) => `${p.start} – ${p.end}`).join('; ')
    : x.type === 'FLOATING' ? `${x.floating_length} hours${x.activated_at ? ', activated ' + fmtTime(x.activated_at) : ''}` : '');
  const draw = () => {
    tbody.replaceChildren(...grants.map((x, i) => h('tr', {}, h('td', { text: roleName(x.id) }), h('td', { text: GRANT_TYPES[x.type] || x.type }),
      h('td', { text: describe(x) }), h('td', { text: 'explicit' }),
      h('td', {}, manage ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Remove grant of ${roleName(x.id)}`,
        onclick: () => { grants.splice(i, 1); draw(); say(`Grant of ${roleName(x.id)} removed; Save Grants saves it`); } }, 'Remove') : ''))),
    ...mapped.map((x) => h('tr', {}, [roleName(x.id), GRANT_TYPES[x.type] || x.type, describe(x), x.source, ''].map((v) => h('td', { text: v })))));
  };
  draw();
  const table = h('table', { id: nextId('grants') }, h('thead', {}, h('tr', {}, ['Role', 'Type', 'Periods or length', 'Source', 'Actions'].map((c) => h('th', { scope: 'col', text: c })))), tbody);
  table.dataset.field = 'roles';
  table.tabIndex = -1;
  section.append(scrollBox(table), h('div', { class: 'error', id: table.id + '-err' }));
  if (manage) {
    const role = h('select', {}, roleList.map((r) => h('option', { value: r.id, text: r.name })));
    const type = h('select', {}, Object.entries(GRANT_TYPES).map(([v, l]) => h('option', { value: v, text: l })));
    const periods = h('textarea', { rows: 3, placeholder: '2026-01-05T08:00:00Z/2026-01-09T18:00:00Z' });
    const hours = h('input', { type: 'text', inputmode: 'numeric' });
    const add = h('button', { type: 'button', class: 'secondary', text: 'Add Grant', onclick: () => {
      const x = { id: role.value, type: type.value };
      if (x.type === 'TIME_RESTRICTED') {
        x.periods = periods.value.split('\n').map((l) => l.trim()).filter(Boolean).map((l) => { const [start, end] = l.split('/'); return { start: (start || '').trim(), end: (end || '').trim() }; });
      }
      if (x.type === 'FLOATING') x.floating_length = parseInt(hours.value, 10) || 0;
      grants.push(x);
      draw();
      say(`Grant of ${roleName(x.id)} added; Save Grants saves it`);
    } });
    const save = h('button', { type: 'button', text: 'Save Grants', onclick: guard(async () => {
      clearErrors(section);
      const r = await api('PUT', `/users/${encodeURIComponent(id)}/roles`, { roles: grants.map((x) => ({ id: x.id, type: x.type, periods: x.periods || [], floating_length: x.floating_length || 0 })) });
      if (!r.ok) { showError(section, r); return; }
      grants = (r.data.roles || []).filter((x) => !x.source || x.source === 'explicit').map((x) => ({ ...x }));
      draw();
      say('Grants saved');
    }) });
    section.append(h('div', { class: 'row' }, field('Role', role), field('Grant type', type), field('Periods (start/end, one per line)', periods),
      field('Floating length (hours)', hours), add), save);
  }
  main.append(section);
}

const PERMISSIONS = ['api-keys-manage', 'api-keys-verify', 'audit-view', 'authenticators-manage', 'roles-manage', 'roles-view',
  'signing-keys-manage', 'users-manage', 'users-view', 'api-registrations-manage'];

async function renderRoles() {
  const manage = has('roles-manage');
  await listPage('Roles', '/roles?limit=1000', ['Name', 'Permissions', 'Context', 'Actions'], (ro) => [ro.name, (ro.permissions || []).join(', '),
    ro.context ? JSON.stringify(ro.context) : '',
    manage ? h('span', {}, h('a', { href: '/console/roles?edit=' + encodeURIComponent(ro.id), text: `Edit ${ro.name}` }), ' ', h('button', { type: 'button', class: 'secondary', 'aria-label': `Delete ${ro.name}`, onclick: () => {
      const yes = h('button', { type: 'button', text: 'Delete' });
      const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
      const d = dialog(`Delete ${ro.name}`, h('p', { text: 'The role and its grants are deleted.' }), [yes, no]);
      no.addEventListener('click', () => d.close());
      yes.addEventListener('click', guard(async () => {
        const r = await api('DELETE', '/roles/' + encodeURIComponent(ro.id));
        d.close();
        if (!r.ok) { showError(main, r); return; }
        say('Role deleted');
        await route();
      }));
    } }, 'Delete')) : '']);
  if (!manage) return;
  const q = new URLSearchParams(location.search);
  const rolesR = await api('GET', '/roles?limit=1000');
  const editing = q.get('edit') && rolesR.ok ? rolesR.data.items.find((r) => r.id === q.get('edit')) : null;
  const ctx0 = (editing && editing.context) || {};
  const name = h('input', { type: 'text', value: editing ? editing.name : '' });
  const desc = h('input', { type: 'text', value: editing ? editing.description || '' : '' });
  const boxes = PERMISSIONS.map((p) => { const cb = h('input', { type: 'checkbox', id: nextId('perm'), value: p, checked: editing && (editing.permissions || []).includes(p) }); return { cb, el: h('label', { class: 'check', for: cb.id }, cb, p) }; });
  const permsFs = h('fieldset', { id: nextId('perms') }, h('legend', { text: 'Permissions' }), boxes.map((b) => b.el));
  permsFs.dataset.field = 'permissions';
  const days = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => { const cb = h('input', { type: 'checkbox', id: nextId('day'), value: d, checked: (ctx0.weekdays || []).includes(d) }); return { cb, el: h('label', { class: 'check', for: cb.id }, cb, d) }; });
  const daysFs = h('fieldset', { id: nextId('days') }, h('legend', { text: 'Weekdays' }), h('div', { class: 'row' }, days.map((d) => d.el)));
  const st = h('input', { type: 'text', placeholder: '08:00', value: ctx0.start_time || '' });
  const et = h('input', { type: 'text', placeholder: '18:00', value: ctx0.end_time || '' });
  const tz = h('input', { type: 'text', placeholder: 'Europe/Paris', value: ctx0.time_zone || '' });
  const masks = h('input', { type: 'text', placeholder: '10.0.0.0/8, 192.0.2.0/24', value: (ctx0.ip_masks || []).join(', ') });
  const ctxFs = h('fieldset', { id: nextId('ctx') }, h('legend', { text: 'Context' }), daysFs,
    h('div', { class: 'row' }, field('Start time', st), field('End time', et), field('Time zone', tz), field('IP masks', masks)));
  ctxFs.dataset.field = 'context';
  const title = editing ? `Edit role ${editing.name}` : 'Create role';
  const rf = h('form', { novalidate: true }, h('h2', { text: title }), h('div', { class: 'row' }, field('Name', name, 'name'), field('Description', desc, 'description')),
    permsFs, h('div', { class: 'error', id: permsFs.id + '-err' }), ctxFs, h('div', { class: 'error', id: ctxFs.id + '-err' }),
    h('button', { type: 'submit', text: editing ? 'Save Role' : 'Create Role' }));
  rf.addEventListener('submit', guard(async () => {
    clearErrors(rf);
    const body = { name: name.value, description: desc.value, permissions: boxes.filter((b) => b.cb.checked).map((b) => b.cb.value) };
    const context = { weekdays: days.filter((d) => d.cb.checked).map((d) => d.cb.value), start_time: st.value.trim(), end_time: et.value.trim(),
      time_zone: tz.value.trim(), ip_masks: masks.value.split(',').map((x) => x.trim()).filter(Boolean) };
    if (context.weekdays.length || context.start_time || context.end_time || context.time_zone || context.ip_masks.length) body.context = context;
    const r = editing ? await api('PUT', '/roles/' + encodeURIComponent(editing.id), body) : await api('POST', '/roles', body);
    if (!r.ok) { showError(rf, r); return; }
    say(`Role ${r.data.name} ${editing ? 'saved' : 'created'}`);
    if (editing) go('/console/roles'); else await route();
  }));
  main.append(rf);
}

// keysPanel lists a principal's API keys with create (the secret shown
// once, with Copy), rotate (with a grace period) and revoke.
async function keysPanel(principalID, container) {
  const list = h('div');
  const draw = async () => {
    const r = await api('GET', `/users/${encodeURIComponent(principalID)}/api-keys`);
    if (!r.ok) { showError(container, r); return; }
    const items = r.data.items || [];
    list.replaceChildren(scrollBox(h('table', {}, h('caption', { text: `${items.length} API keys` }),
      h('thead', {}, h('tr', {}, ['Description', 'Status', 'Last Use', 'Client Address', 'Expires', 'Actions'].map((c) => h('th', { scope: 'col', text: c })))),
      h('tbody', {}, items.map((k) => {
        const name = k.description || k.id;
        const status = k.revoked_at ? 'revoked' : (k.grace_until ? `rotated (old key valid until ${fmtTime(k.grace_until)})` : 'active');
        const actions = k.revoked_at ? [] : [
          h('button', { type: 'button', class: 'secondary', 'aria-label': `Rotate ${name}`, onclick: () => rotateKey(k, name) }, 'Rotate'),
          h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke ${name}`, onclick: () => revokeKey(k, name) }, 'Revoke')];
        return h('tr', {}, h('td', { text: name }), h('td', { text: status }), h('td', { text: fmtTime(k.last_used_at) }),
          h('td', { text: k.last_used_addr || '' }), h('td', { text: k.expires_at ? fmtTime(k.expires_at) : 'Never' }), h('td', {}, actions));
      })))));
  };
  const shown = h('div', { class: 'secret' });
  const showOnce = (key) => {
    const f = h('input', { type: 'text', readonly: true, class: 'wide', value: key, spellcheck: 'false' });
    shown.replaceChildren(field('New API key (shown once)', f),
      h('button', { type: 'button', onclick: guard(async () => { await navigator.clipboard.writeText(f.value); say('Copied'); }) }, 'Copy'),
      h('p', { class: 'note', text: 'Store it now: keyward keeps only its hash and will not show it again.' }));
    f.focus();
  };
  const rotateKey = (k, name) => {
    const grace = h('input', { type: 'text', inputmode: 'numeric', value: '0' });
    const yes = h('button', { type: 'button', text: 'Rotate' });
    const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const d = dialog(`Rotate ${name}`, h('div', {}, field('Grace period (seconds)', grace, 'grace_period_seconds'),
      h('p', { text: 'The old key keeps working during the grace period, then fails.' })), [yes, no]);
    no.addEventListener('click', () => d.close());
    yes.addEventListener('click', guard(async () => {
      const r = await api('POST', `/api-keys/${encodeURIComponent(k.id)}/rotate`, { grace_period_seconds: parseInt(grace.value || '0', 10) || 0 });
      if (!r.ok) { showError(d.box, r); return; }
      d.close();
      showOnce(r.data.key);
      say('Key rotated; the new key is shown once');
      await draw();
    }));
  };
  const revokeKey = (k, name) => {
    const yes = h('button', { type: 'button', text: 'Revoke' });
    const no = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
    const d = dialog(`Revoke ${name}`, h('p', { text: 'The key stops working at once.' }), [yes, no]);
    no.addEventListener('click', () => d.close());
    yes.addEventListener('click', guard(async () => {
      const r = await api('DELETE', `/api-keys/${encodeURIComponent(k.id)}`);
      d.close();
      if (!r.ok) { showError(container, r); return; }
      say('Key revoked');
      await draw();
    }));
  };
  const desc = h('input', { type: 'text' });
  const sources = h('input', { type: 'text', placeholder: '10.0.0.0/8, 192.0.2.7' });
  const days = h('input', { type: 'text', inputmode: 'numeric' });
  const roles = h('input', { type: 'text', placeholder: 'role ids, comma separated' });
  const form = h('form', { novalidate: true }, h('h2', { text: 'Create API key' }),
    h('div', { class: 'row' }, field('Description', desc, 'description'), field('Valid sources', sources, 'valid_sources'),
      field('Expires in days', days, 'expires_in_days'), field('Role scope', roles, 'roles')),
    h('button', { type: 'submit', text: 'Create API Key' }));
  const split = (v) => v.split(',').map((x) => x.trim()).filter(Boolean);
  form.addEventListener('submit', guard(async () => {
    clearErrors(form);
    const body = { description: desc.value, valid_sources: split(sources.value), roles: split(roles.value) };
    if (days.value.trim()) body.expires_in_days = parseInt(days.value, 10);
    const r = await api('POST', `/users/${encodeURIComponent(principalID)}/api-keys`, body);
    if (!r.ok) { showError(form, r); return; }
    showOnce(r.data.key);
    say('API key created; it is shown once');
    await draw();
  }));
  container.append(list, form, shown);
  await draw();
}

async function renderAPIKeys() {
  main.append(h('h1', { text: 'API Keys' }), h('p', { class: 'note', text: 'Your own keys are under My Account.' }));
  const q = new URLSearchParams(location.search);
  let users = [];
  if (has('users-view')) {
    const r = await api('GET', '/users?limit=1000');
    if (r.ok) users = r.data.items;
  }
  const pick = h('select', {}, users.map((u) => h('option', { value: u.id, text: u.login })));
  const chosen = q.get('principal') || (users.find((u) => u.id !== me.principal_id) || { id: me.principal_id }).id;
  pick.value = chosen;
  pick.addEventListener('change', () => go('/console/api-keys?principal=' + encodeURIComponent(pick.value)));
  if (users.length) main.append(field('Principal', pick));
  await keysPanel(chosen, main);
}

async function enrolTOTP(container) {
  const r = await api('POST', `/users/${encodeURIComponent(me.principal_id)}/mfa`);
  if (!r.ok) { showError(container, r); return; }
  // The QR code arrives as a data: URL; it is drawn from its bytes, as the
  // console's CSP loads images from itself only.
  const canvas = h('canvas', { role: 'img', 'aria-label': 'QR code of the TOTP seed' });
  const bytes = Uint8Array.from(atob(r.data.qr_code.split(',')[1]), (c) => c.charCodeAt(0));
  const bmp = await createImageBitmap(new Blob([bytes], { type: 'image/png' }));
  canvas.width = bmp.width; canvas.height = bmp.height;
  canvas.getContext('2d').drawImage(bmp, 0, 0);
  const seed = h('input', { type: 'text', readonly: true, class: 'wide', value: r.data.seed });
  const code = h('input', { type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code' });
  const form = h('form', { novalidate: true }, field('Code from the app', code, 'code'), h('button', { type: 'submit', text: 'Verify Code' }));
  form.addEventListener('submit', guard(async () => {
    clearErrors(form);
    const v = await api('POST', `/users/${encodeURIComponent(me.principal_id)}/mfa/verify`, { code: code.value });
    if (!v.ok) { showError(form, v); return; }
    const codes = (v.data.recovery_codes || []).join('\n');
    container.replaceChildren(h('p', { text: 'TOTP is enabled. Recovery codes, shown once:' }),
      field('Recovery codes', h('textarea', { readonly: true, rows: 10, value: codes })));
    say('TOTP enabled');
  }));
  container.replaceChildren(canvas, field('Seed', seed), form);
}

async function renderMyAccount() {
  main.append(h('h1', { text: 'My Account' }), h('p', { text: `Signed in as ${me.login} (${me.role_id}).` }));
  const pw = h('input', { type: 'password', autocomplete: 'new-password' });
  const form = h('form', { novalidate: true }, h('h2', { text: 'Change password' }), field('New password', pw, 'password'), h('button', { type: 'submit', text: 'Change Password' }));
  form.addEventListener('submit', guard(async () => {
    clearErrors(form);
    const r = await api('PUT', `/users/${encodeURIComponent(me.principal_id)}/password`, { password: pw.value });
    pw.value = '';
    if (!r.ok) { showError(form, r); return; }
    say('Password changed');
  }));
  const mfa = h('section', { 'aria-labelledby': 'mfa-h' }, h('h2', { id: 'mfa-h', text: 'Two-factor authentication (TOTP)' }));
  const mfaBody = h('div');
  mfa.append(mfaBody, h('button', { type: 'button', class: 'secondary', onclick: guard(() => enrolTOTP(mfaBody)) }, 'Enrol TOTP'));
  const keys = h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h', text: 'My API keys' }));
  main.append(form, mfa, keys);
  await keysPanel(me.principal_id, keys);
}

const authnName = (a) => `${a.type}${a.service_id ? '/' + a.service_id : ''}`;

async function putAuthenticator(a, patch) {
  const body = { enabled: a.enabled, config: a.config || {}, allowed: a.allowed || [], ...patch };
  return api('PUT', '/authenticators/' + authnName(a).split('/').map(encodeURIComponent).join('/'), body);
}

async function renderAuthenticators() {
  const q = new URLSearchParams(location.search);
  const data = await listPage('Authenticators', '/authenticators', ['Name', 'Enabled', 'Status', 'Actions'], (a) => [authnName(a), a.enabled ? 'enabled' : 'disabled',
    a.status + (a.warnings && a.warnings.length ? ' (' + a.warnings.join('; ') + ')' : ''),
    h('span', {},
      h('button', { type: 'button', class: 'secondary', onclick: guard(async () => {
        const r = await putAuthenticator(a, { enabled: !a.enabled });
        if (!r.ok) { showError(main, r); return; }
        say(`${authnName(a)} ${r.data.enabled ? 'enabled' : 'disabled'}`);
        await route();
      }) }, `${a.enabled ? 'Disable' : 'Enable'} ${authnName(a)}`),
      h('a', { href: '/console/authenticators?edit=' + encodeURIComponent(authnName(a)), text: `Edit ${authnName(a)}` }))]);
  const a = data && q.get('edit') && data.items.find((x) => authnName(x) === q.get('edit'));
  if (!a) return;
  // Secret values come back masked; sent back unchanged they keep the
  // stored secret, so a secret is only ever replaced, never read.
  const cfg = h('textarea', { rows: 6, value: Object.entries(a.config || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n') });
  const allowed = h('input', { type: 'text', class: 'wide', value: (a.allowed || []).join(', ') });
  const f = h('form', { novalidate: true }, h('h2', { text: `Edit ${authnName(a)}` }), field('Configuration', cfg, 'config'),
    h('p', { class: 'note', text: 'One name=value per line; secret values show as ***** and keep their stored value unless replaced.' }),
    field('Allowed principals', allowed, 'allowed'), h('button', { type: 'submit', text: 'Save Authenticator' }));
  f.addEventListener('submit', guard(async () => {
    clearErrors(f);
    const config = {};
    for (const l of cfg.value.split('\n').map((x) => x.trim()).filter(Boolean)) { const i = l.indexOf('='); if (i > 0) config[l.slice(0, i).trim()] = l.slice(i + 1).trim(); }
    const r = await putAuthenticator(a, { config, allowed: allowed.value.split(',').map((x) => x.trim()).filter(Boolean) });
    if (!r.ok) { showError(f, r); return; }
    say('Authenticator saved');
  }));
  main.append(f);
}

boot();
