// Rollcall web app, core: sign in (POST /api/v1/auth/login; the JWT is kept in sessionStorage only; a
// second step, when the API asks for one, is accounts.js's), a hash router (#/today, #/session/{id}, …;
// public views such as #/accept?token=… render without signing in), fetch helpers, and the shared reason
// dialog and status toast. Views live in teacher.js, admin.js, accounts.js and school.js. Data is written with textContent only, never as HTML, and no
// inline script or style is used (the API's CSP forbids both).
'use strict';
(function () {
  const TOKEN = 'rollcall.token';
  /** A district admin's chosen school (sent as X-School-Id); none: every school. */
  const SCHOOL = 'rollcall.school';
  const $ = (id) => document.getElementById(id);
  const views = {};
  const publicViews = {};
  let routeTimers = [];
  let routeGen = 0;

  function el(tag, attrs, children) {
    const svg = tag.startsWith('svg:');
    const node = svg
      ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
      : document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') node.textContent = String(v);
      else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children || []) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  /**
   * Marks a table for the card layout of narrow screens (style.css, `table.cards`): each body cell gets its
   * column's header as `data-label`, now and whenever rows are (re)rendered, so a phone shows one card per
   * row instead of a page that scrolls sideways. Row headers (th) are the card's title and get no label.
   */
  function cards(table) {
    table.classList.add('cards');
    const label = () => {
      const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent);
      for (const body of table.tBodies)
        for (const tr of body.rows)
          [...tr.cells].forEach((cell, i) => {
            if (cell.tagName === 'TD' && cell.colSpan === 1 && heads[i] && cell.dataset.label !== heads[i])
              cell.dataset.label = heads[i];
          });
    };
    label();
    new MutationObserver(label).observe(table, { childList: true, subtree: true });
    return table;
  }

  function link(href, text, external) {
    return external
      ? el('a', { href, text, target: '_blank', rel: 'noopener noreferrer' })
      : el('a', { href, text });
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
  }
  function dateTime(iso) {
    return iso ? new Date(iso).toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' }) : '—';
  }

  /**
   * fetch with the session's JWT, or with `init.bearer` (a sign-in step's own short-lived token: its 401 is
   * the step's to explain). A 401 on the session's token ends the session with the API's reason (expired,
   * revoked, account disabled).
   */
  async function request(path, init, accept) {
    const own = init && init.bearer;
    const token = own || sessionStorage.getItem(TOKEN);
    const headers = Object.assign(
      { Accept: accept },
      init && init.body ? { 'Content-Type': 'application/json' } : {},
    );
    if (token) headers.Authorization = 'Bearer ' + token;
    const school = !own && sessionStorage.getItem(SCHOOL);
    if (school) headers['X-School-Id'] = school;
    const options = Object.assign({}, init, { headers });
    delete options.bearer;
    const res = await fetch(path, options);
    if (res.status === 401 && token && !own) {
      const body = await res
        .clone()
        .json()
        .catch(() => ({}));
      const why = body.error && body.error.message;
      signOut(why ? 'You were signed out: ' + why + '.' : 'Your session has expired; sign in again.');
    }
    return res;
  }

  async function api(path, init) {
    const res = await request(path, init, 'application/json');
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      err.status = res.status;
      err.code = body.error && body.error.code;
      err.details = body.error && body.error.details;
      throw err;
    }
    return body;
  }

  /** Downloads `path` under `filename` (the JWT travels in a header, so a plain link cannot). */
  async function download(path, filename, accept) {
    const res = await request(path, {}, accept);
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      throw new Error((body.error && body.error.message) || 'download failed: HTTP ' + res.status);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: filename, class: 'visually-hidden', text: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }

  /** Downloads `path` as CSV under `filename`. */
  function downloadCsv(path, filename) {
    return download(path, filename, 'text/csv');
  }

  let toastTimer;
  /** A polite status message, optionally with one action button (Undo). */
  function toast(message, action) {
    const box = $('toast');
    clearTimeout(toastTimer);
    box.replaceChildren(el('span', { text: message }));
    if (action) {
      box.append(
        ' ',
        el('button', {
          type: 'button',
          id: 'toast-action',
          text: action.label,
          onclick: () => {
            box.replaceChildren();
            action.run();
          },
        }),
      );
    }
    box.hidden = false;
    toastTimer = setTimeout(() => box.replaceChildren(), action ? 30_000 : 8_000);
  }

  /** Asks for a required reason in a modal dialog; resolves the trimmed text, or null if cancelled. */
  function askReason(what, initial) {
    const dialog = $('reason-dialog');
    $('reason-what').textContent = what;
    $('reason').value = initial || '';
    $('reason-error').textContent = '';
    return new Promise((resolve) => {
      const done = (value) => {
        $('reason-form').removeEventListener('submit', onSubmit);
        $('reason-cancel').removeEventListener('click', onCancel);
        dialog.removeEventListener('cancel', onCancel);
        if (dialog.open) dialog.close();
        resolve(value);
      };
      const onSubmit = (ev) => {
        ev.preventDefault();
        const v = $('reason').value.trim();
        if (!v) {
          $('reason-error').textContent = 'A reason is required.';
          $('reason').focus();
          return;
        }
        done(v);
      };
      const onCancel = (ev) => {
        ev.preventDefault();
        done(null);
      };
      $('reason-form').addEventListener('submit', onSubmit);
      $('reason-cancel').addEventListener('click', onCancel);
      dialog.addEventListener('cancel', onCancel);
      dialog.showModal();
      $('reason').focus();
    });
  }

  function setUpdated(text) {
    $('updated').textContent = text;
  }

  /**
   * Runs fn now and then every ms while the current view is shown (never two runs at once). The first
   * run's failure is the view's (it shows as the page's error); later ones only note it under the view.
   */
  async function every(ms, fn) {
    const gen = routeGen;
    let running = true;
    const tick = async () => {
      if (running || gen !== routeGen) return;
      running = true;
      try {
        await fn();
      } catch (err) {
        if (gen === routeGen) setUpdated(String(err.message || err));
      } finally {
        running = false;
      }
    };
    try {
      await fn();
    } finally {
      running = false;
    }
    if (gen === routeGen) routeTimers.push(setInterval(tick, ms));
  }

  function current() {
    return routeGen;
  }

  /**
   * Polls a job (a workflow behind the API) every 500 ms while its view stays open: `read()` fetches its
   * state, `running(state, seconds)` shows progress and says whether it is still going. Resolves with the
   * final state, or undefined when the user moved to another view; fails after 10 minutes naming `what`.
   */
  async function follow(what, read, running) {
    const gen = routeGen;
    const started = Date.now();
    for (;;) {
      if (gen !== routeGen) return undefined;
      const state = await read();
      const seconds = Math.round((Date.now() - started) / 1000);
      if (!running(state, seconds)) return state;
      if (Date.now() - started > 10 * 60_000)
        throw new Error(`the ${what} is still running after 10 minutes; look at it in the Temporal UI`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  /** The current hash as a view name, its path argument and its query (`#/accept?token=…`). */
  function parseHash() {
    const raw = location.hash.replace(/^#\/?/, '');
    const q = raw.indexOf('?');
    const pathPart = q < 0 ? raw : raw.slice(0, q);
    const [name, ...rest] = (pathPart || 'today').split('/');
    return {
      name,
      arg: rest.length ? decodeURIComponent(rest.join('/')) : undefined,
      params: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
    };
  }

  const R = (window.Rollcall = {
    views,
    publicViews,
    $,
    el,
    cards,
    link,
    time,
    dateTime,
    api,
    download,
    downloadCsv,
    toast,
    askReason,
    setUpdated,
    every,
    current,
    follow,
    token: () => sessionStorage.getItem(TOKEN),
    setToken: (token) => sessionStorage.setItem(TOKEN, token),
    signedIn,
    signOut: (message) => signOut(message),
    reload: () => route(),
    user: null,
    temporalUi: null,
  });

  async function route() {
    routeTimers.forEach(clearInterval);
    routeTimers = [];
    routeGen++;
    const { name, arg, params } = parseHash();
    const open = publicViews[name];
    if (open) {
      $('login').hidden = true;
      $('login-step').hidden = true;
      $('app').hidden = false;
    } else if (!R.user) {
      $('app').hidden = true;
      if ($('login-step').hidden) $('login').hidden = false;
      return;
    }
    const view = open || views[name] || views.today;
    for (const a of document.querySelectorAll('#nav a')) {
      const active = a.getAttribute('href') === '#/' + name;
      if (active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const root = $('view');
    root.replaceChildren();
    setUpdated('');
    try {
      await view(root, arg, params);
    } catch (err) {
      root.replaceChildren(el('p', { class: 'error', role: 'alert', text: String(err.message || err) }));
    }
  }

  async function start() {
    try {
      const me = await api('/api/v1/auth/me');
      R.user = me.user;
    } catch (err) {
      if (err.status !== 401) $('login-error').textContent = String(err.message || err);
      if (publicViews[parseHash().name]) await route();
      return;
    }
    $('who').textContent =
      R.user.name + ' (' + (R.user.schoolId === null ? 'district admin' : R.user.role) + ')';
    await showSchools();
    for (const a of document.querySelectorAll('#nav [data-role="admin"]')) a.hidden = R.user.role !== 'admin';
    $('login').hidden = true;
    $('login-step').hidden = true;
    $('login-step').replaceChildren();
    $('app').hidden = false;
    $('nav').hidden = false;
    $('logout').hidden = false;
    await route();
  }

  /** A full session token from a sign-in step: the app starts (on Today when the page was a public one). */
  async function signedIn(token) {
    sessionStorage.setItem(TOKEN, token);
    if (publicViews[parseHash().name]) history.replaceState(null, '', location.pathname + '#/today');
    await start();
  }

  /**
   * A district admin picks the school the pages show (every school by default); a school's user works in
   * their own. The choice travels as X-School-Id, which the API enforces with row-level security.
   */
  async function showSchools() {
    const pick = $('school-pick');
    pick.hidden = R.user.schoolId !== null;
    if (!pick.hidden) {
      const saved = sessionStorage.getItem(SCHOOL);
      sessionStorage.removeItem(SCHOOL);
      const { schools } = await api('/api/v1/schools');
      const select = $('school');
      select.replaceChildren(
        el('option', { value: '', text: 'All schools' }),
        ...schools.map((s) => el('option', { value: s.id, text: s.name })),
      );
      select.value = schools.some((s) => s.id === saved) ? saved : '';
      if (select.value) sessionStorage.setItem(SCHOOL, select.value);
    }
  }

  $('school').addEventListener('change', async () => {
    const id = $('school').value;
    if (id) sessionStorage.setItem(SCHOOL, id);
    else sessionStorage.removeItem(SCHOOL);
    await route();
  });

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(SCHOOL);
    $('school-pick').hidden = true;
    R.user = null;
    routeTimers.forEach(clearInterval);
    routeTimers = [];
    routeGen++;
    $('view').replaceChildren();
    $('who').textContent = '';
    $('app').hidden = true;
    $('nav').hidden = true;
    $('logout').hidden = true;
    $('login-step').hidden = true;
    $('login-step').replaceChildren();
    $('toast').replaceChildren();
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  $('login-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('login-error').textContent = '';
    try {
      const body = await api('/api/v1/auth/login', {
        method: 'POST',
        body: JSON.stringify({ email: $('email').value, password: $('password').value }),
      });
      $('password').value = '';
      // A second step (a code, or enrolling an authenticator) is accounts.js's.
      if (body.token) await signedIn(body.token);
      else R.secondStep(body);
    } catch (err) {
      $('login-error').textContent = String(err.message || err);
    }
  });
  $('logout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => {
    void route().then(() => {
      const h = $('app').hidden ? null : document.querySelector('#view h2');
      if (h) {
        h.setAttribute('tabindex', '-1');
        h.focus();
      } else if (!$('login').hidden) ($('email').value ? $('password') : $('email')).focus();
    });
  });
  document.addEventListener('DOMContentLoaded', () => {
    if (sessionStorage.getItem(TOKEN)) void start();
    else if (publicViews[parseHash().name]) void route();
  });
})();
