// Rollcall web app, core: sign in (POST /api/v1/auth/login; the JWT is kept in sessionStorage only), a
// hash router (#/today, #/session/{id}, …), fetch helpers, and the shared reason dialog and status toast.
// Views live in teacher.js and admin.js. Data is written with textContent only, never as HTML, and no
// inline script or style is used (the API's CSP forbids both).
'use strict';
(function () {
  const TOKEN = 'rollcall.token';
  const $ = (id) => document.getElementById(id);
  const views = {};
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

  async function request(path, init, accept) {
    const token = sessionStorage.getItem(TOKEN);
    const headers = Object.assign(
      { Accept: accept },
      init && init.body ? { 'Content-Type': 'application/json' } : {},
    );
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, Object.assign({}, init, { headers }));
    if (res.status === 401 && token) signOut('Your session has expired; sign in again.');
    return res;
  }

  async function api(path, init) {
    const res = await request(path, init, 'application/json');
    const body = await res.json().catch(() => ({}));
    if (!res.ok) {
      const err = new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      err.status = res.status;
      err.code = body.error && body.error.code;
      throw err;
    }
    return body;
  }

  /** Downloads `path` as CSV under `filename` (the JWT travels in a header, so a plain link cannot). */
  async function downloadCsv(path, filename) {
    const res = await request(path, {}, 'text/csv');
    if (!res.ok) throw new Error('download failed: HTTP ' + res.status);
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: filename, class: 'visually-hidden', text: filename });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
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

  const R = (window.Rollcall = {
    views,
    $,
    el,
    link,
    time,
    dateTime,
    api,
    downloadCsv,
    toast,
    askReason,
    setUpdated,
    every,
    current,
    user: null,
    temporalUi: null,
  });

  async function route() {
    routeTimers.forEach(clearInterval);
    routeTimers = [];
    routeGen++;
    if (!R.user) return;
    const [name, ...rest] = (location.hash.replace(/^#\/?/, '') || 'today').split('/');
    const arg = rest.length ? decodeURIComponent(rest.join('/')) : undefined;
    const view = views[name] || views.today;
    for (const a of document.querySelectorAll('#nav a')) {
      const active = a.getAttribute('href') === '#/' + name;
      if (active) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    const root = $('view');
    root.replaceChildren();
    setUpdated('');
    try {
      await view(root, arg);
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
      return;
    }
    $('who').textContent = R.user.name + ' (' + R.user.role + ')';
    for (const a of document.querySelectorAll('#nav [data-role="admin"]')) a.hidden = R.user.role !== 'admin';
    $('login').hidden = true;
    $('app').hidden = false;
    $('nav').hidden = false;
    $('logout').hidden = false;
    await route();
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    R.user = null;
    routeTimers.forEach(clearInterval);
    routeTimers = [];
    routeGen++;
    $('view').replaceChildren();
    $('who').textContent = '';
    $('app').hidden = true;
    $('nav').hidden = true;
    $('logout').hidden = true;
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
      sessionStorage.setItem(TOKEN, body.token);
      $('password').value = '';
      await start();
    } catch (err) {
      $('login-error').textContent = String(err.message || err);
    }
  });
  $('logout').addEventListener('click', () => signOut());
  window.addEventListener('hashchange', () => {
    void route().then(() => {
      const h = document.querySelector('#view h2');
      if (h) {
        h.setAttribute('tabindex', '-1');
        h.focus();
      }
    });
  });
  document.addEventListener('DOMContentLoaded', () => {
    if (sessionStorage.getItem(TOKEN)) void start();
  });
})();
