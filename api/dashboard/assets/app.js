// Rollcall dashboard: sign in (POST /api/v1/auth/login), keep the JWT in sessionStorage only, and render
// GET /api/v1/dashboard/overview. Data is written with textContent only, never as HTML.
'use strict';
(function () {
  const TOKEN = 'rollcall.token';
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'text') node.textContent = String(v);
      else node.setAttribute(k, String(v));
    }
    for (const c of children || []) node.append(c);
    return node;
  }

  function link(href, text) {
    return el('a', { href, text, target: '_blank', rel: 'noopener noreferrer' });
  }

  function time(iso) {
    return iso ? new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }) : '—';
  }

  async function api(path, init) {
    const token = sessionStorage.getItem(TOKEN);
    const headers = Object.assign(
      { Accept: 'application/json' },
      init && init.body ? { 'Content-Type': 'application/json' } : {},
    );
    if (token) headers.Authorization = 'Bearer ' + token;
    const res = await fetch(path, Object.assign({}, init, { headers }));
    const body = await res.json().catch(() => ({}));
    if (res.status === 401 && token) signOut('Your session has expired; sign in again.');
    if (!res.ok) throw new Error((body.error && body.error.message) || 'HTTP ' + res.status);
    return body;
  }

  function signOut(message) {
    sessionStorage.removeItem(TOKEN);
    $('app').hidden = true;
    $('login').hidden = false;
    $('login-error').textContent = message || '';
  }

  function renderSessions(rooms) {
    const root = $('sessions');
    root.replaceChildren();
    if (rooms.length === 0) {
      root.append(el('p', { class: 'muted', text: 'No sessions have started today.' }));
      return;
    }
    for (const room of rooms) {
      const rows = room.sessions.map((s) =>
        el('tr', { 'data-session-id': s.session_id }, [
          el('td', {}, [el('strong', { text: s.course_id }), ' ' + s.course_name]),
          el('td', { text: time(s.starts_at) + '–' + time(s.ends_at) }),
          el('td', { text: s.status }),
          el('td', { class: 'n present', text: s.counts.present }),
          el('td', { class: 'n late', text: s.counts.late }),
          el('td', { class: 'n absent', text: s.counts.absent }),
          el('td', { class: 'n', text: s.counts.excused }),
          el('td', { class: 'n muted', text: s.counts.unmarked }),
          el('td', {}, [link(s.workflow_url, s.session_id)]),
        ]),
      );
      const head = el(
        'tr',
        {},
        ['Course', 'Time', 'Status', 'Present', 'Late', 'Absent', 'Excused', 'Unmarked', 'Workflow'].map(
          (h) => el('th', { text: h }),
        ),
      );
      root.append(
        el('h2', { text: room.room_id + ' · ' + room.room_name }),
        el('table', {}, [el('thead', {}, [head]), el('tbody', {}, rows)]),
      );
    }
  }

  function renderDevices(devices) {
    const body = $('devices-body');
    body.replaceChildren(
      ...devices.map((d) =>
        el('tr', {}, [
          el('td', { text: d.id }),
          el('td', { text: d.room_id }),
          el('td', { class: 'status-' + d.status, text: d.status }),
          el('td', { text: d.last_seen ? new Date(d.last_seen).toLocaleString() : 'never' }),
          el('td', {}, [link(d.workflow_url, 'device:' + d.id)]),
        ]),
      ),
    );
  }

  async function refresh() {
    try {
      const [me, overview] = await Promise.all([api('/api/v1/auth/me'), api('/api/v1/dashboard/overview')]);
      $('who').textContent = me.user.name + ' (' + me.user.role + ')';
      $('temporal-link').href = overview.temporal_ui;
      renderSessions(overview.rooms);
      renderDevices(overview.devices);
      $('updated').textContent = 'Updated ' + new Date(overview.generated_at).toLocaleTimeString();
      $('login').hidden = true;
      $('app').hidden = false;
    } catch (err) {
      $('updated').textContent = String(err.message || err);
    }
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
      await refresh();
    } catch (err) {
      $('login-error').textContent = String(err.message || err);
    }
  });
  $('logout').addEventListener('click', () => signOut());
  if (sessionStorage.getItem(TOKEN)) void refresh();
  setInterval(() => {
    if (sessionStorage.getItem(TOKEN)) void refresh();
  }, 15000);
})();
