// Admin views: devices (health from GET /api/v1/dashboard/devices; provision, rotate and decommission
// through /api/v1/admin/devices — a new key is shown once, on this page only, and never stored) and
// enrollment (consent, photo upload with the pipeline's per-photo verdict, progress of the workflow).
'use strict';
(function () {
  const R = window.Rollcall;
  const { el, api, link } = R;
  const ALERT_TEXT = { offline: 'Offline', overheating: 'Overheating', clock_skew: 'Clock skew' };

  const field = (id, label, attrs) => [
    el('label', { for: id, text: label }),
    el('input', Object.assign({ id, name: id }, attrs)),
  ];

  function showKey(box, deviceId, key) {
    const code = el('code', { id: 'device-key', text: key });
    box.replaceChildren(
      el('p', { role: 'alert', class: 'key-once' }, [
        el('strong', { text: `Key of ${deviceId} — shown only now: ` }),
        code,
        ' ',
        el('button', {
          type: 'button',
          text: 'Copy',
          onclick: () =>
            void (
              navigator.clipboard
                ? navigator.clipboard.writeText(key)
                : Promise.reject(new Error('no clipboard'))
            )
              .then(() => R.toast('Key copied.'))
              .catch(() => R.toast('Copy it by hand: the browser refused the clipboard.')),
        }),
        ' ',
        el('button', { type: 'button', text: 'Done, hide it', onclick: () => box.replaceChildren() }),
      ]),
    );
  }

  R.views.devices = async (root) => {
    if (R.user.role !== 'admin') {
      root.append(el('p', { class: 'error', text: 'Devices are managed by admins.' }));
      return;
    }
    const body = el('tbody', { id: 'admin-devices-body' });
    const keyBox = el('div', { id: 'key-box' });
    const error = el('div', { id: 'provision-error', class: 'error', role: 'alert' });
    const form = el('form', { id: 'provision-form', class: 'inline-form' }, [
      ...field('device-id', 'Device id', {
        required: true,
        pattern: '[a-z0-9](?:[a-z0-9\\-]{0,61}[a-z0-9])?',
        maxlength: 63,
        autocomplete: 'off',
      }),
      ...field('room-id', 'Room', { required: true, maxlength: 64, autocomplete: 'off' }),
      el('button', { type: 'submit', id: 'provision', class: 'primary', text: 'Provision' }),
    ]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      try {
        const p = await api('/api/v1/admin/devices', {
          method: 'POST',
          body: JSON.stringify({
            device_id: R.$('device-id').value.trim(),
            room_id: R.$('room-id').value.trim(),
          }),
        });
        form.reset();
        showKey(keyBox, p.device_id, p.api_key);
        await load();
      } catch (err) {
        error.textContent = err.message;
      }
    });
    root.append(
      el('section', {}, [
        el('h2', { text: 'Devices' }),
        el('div', { class: 'scroll', tabindex: 0 }, [
          el('table', { id: 'admin-devices' }, [
            el('thead', {}, [
              el(
                'tr',
                {},
                ['Device', 'Room', 'Status', 'Last seen', 'CPU', 'Queue', 'Clock', 'Alerts', 'Actions'].map(
                  (h) => el('th', { scope: 'col', text: h }),
                ),
              ),
            ]),
            body,
          ]),
        ]),
      ]),
      el('section', {}, [el('h2', { text: 'Provision a device' }), form, error, keyBox]),
    );

    async function rotate(id) {
      if (!window.confirm(`Rotate the key of ${id}? The old key stops working at once.`)) return;
      try {
        const r = await api('/api/v1/admin/devices/' + encodeURIComponent(id) + '/rotate-key', {
          method: 'POST',
        });
        showKey(keyBox, r.device_id, r.api_key);
      } catch (err) {
        R.toast(`Rotation failed: ${err.message}`);
      }
    }
    async function decommission(id) {
      const reason = await R.askReason(`Decommission ${id}: its key is revoked at once.`);
      if (reason === null) return;
      try {
        await api('/api/v1/admin/devices/' + encodeURIComponent(id) + '/decommission', {
          method: 'POST',
          body: JSON.stringify({ reason }),
        });
        R.toast(`${id} decommissioned.`);
        await load();
      } catch (err) {
        R.toast(`Decommission failed: ${err.message}`);
      }
    }

    async function load() {
      const data = await api('/api/v1/dashboard/devices');
      body.replaceChildren(
        ...data.devices.map((d) => {
          const active = d.status !== 'decommissioned';
          return el('tr', { 'data-device-id': d.device_id }, [
            el('th', { scope: 'row' }, [link(d.workflow_url, d.device_id, true)]),
            el('td', { text: d.room_id }),
            el('td', {}, [el('span', { class: 'badge s-' + d.status, text: d.status })]),
            el('td', { text: d.last_seen ? R.dateTime(d.last_seen) : 'never' }),
            el('td', { class: 'n', text: d.cpu_temp_c === null ? '—' : d.cpu_temp_c.toFixed(1) + ' °C' }),
            el('td', { class: 'n', text: d.queue_depth === null ? '—' : d.queue_depth }),
            el('td', {
              class: 'n',
              text: d.clock_offset_ms === null ? '—' : (d.clock_offset_ms / 1000).toFixed(1) + ' s',
            }),
            el(
              'td',
              {},
              d.alerts.length
                ? d.alerts.map((a) => el('span', { class: 'badge alert', text: ALERT_TEXT[a] || a }))
                : [el('span', { class: 'muted', text: d.live || !active ? 'none' : 'unknown' })],
            ),
            el(
              'td',
              {},
              active
                ? [
                    el('button', {
                      type: 'button',
                      text: 'Rotate key',
                      'aria-label': 'Rotate key of ' + d.device_id,
                      onclick: () => void rotate(d.device_id),
                    }),
                    ' ',
                    el('button', {
                      type: 'button',
                      text: 'Decommission',
                      'aria-label': 'Decommission ' + d.device_id,
                      onclick: () => void decommission(d.device_id),
                    }),
                  ]
                : [],
            ),
          ]);
        }),
      );
      R.setUpdated('Updated ' + new Date(data.generated_at).toLocaleTimeString());
    }
    await R.every(15_000, load);
  };

  // ---- Enrollment ----------------------------------------------------------------------------------------
  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).replace(/^data:[^,]*,/, ''));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(file);
    });
  }

  R.views.enroll = async (root, initialStudent) => {
    const status = el('div', { id: 'enroll-status', role: 'status' });
    const error = el('div', { id: 'enroll-error', class: 'error', role: 'alert' });
    const photos = el('tbody', { id: 'enroll-photos' });
    const form = el('form', { id: 'enroll-form', class: 'stack-form' }, [
      ...field('student-id', 'Student id', {
        required: true,
        maxlength: 64,
        value: initialStudent || '',
        autocomplete: 'off',
      }),
      el('div', {}, [
        el('input', { type: 'checkbox', id: 'consent', required: true }),
        el('label', {
          for: 'consent',
          text: ' The student (or their guardian) has given written consent to biometric enrollment.',
        }),
      ]),
      ...field('photos', 'Photos (1–10, JPEG, PNG or WebP; one face each)', {
        type: 'file',
        accept: 'image/jpeg,image/png,image/webp',
        multiple: true,
        required: true,
      }),
      el('button', {
        type: 'submit',
        id: 'enroll-submit',
        class: 'primary',
        text: 'Record consent and enroll',
      }),
    ]);
    let files = [];
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      photos.replaceChildren();
      const studentId = R.$('student-id').value.trim();
      files = [...R.$('photos').files];
      const path = '/api/v1/students/' + encodeURIComponent(studentId);
      try {
        status.textContent = 'Recording consent…';
        await api(path + '/consent', { method: 'POST', body: JSON.stringify({}) });
        status.textContent = `Uploading ${files.length} photo(s)…`;
        const images = await Promise.all(files.map(readBase64));
        await api(path + '/photos', { method: 'POST', body: JSON.stringify({ images }) });
        status.textContent = 'Enrollment running: detecting, aligning and encoding each photo…';
        await follow(path);
      } catch (err) {
        status.textContent = '';
        error.textContent = err.message;
      }
    });

    async function follow(path) {
      const gen = R.current();
      for (let i = 0; i < 600 && gen === R.current(); i++) {
        const s = await api(path + '/enrollment');
        if (s.status === 'running') {
          status.textContent = `Enrollment running (${Math.round(i / 2)} s)…`;
          await new Promise((r) => setTimeout(r, 500));
          continue;
        }
        if (s.status === 'failed') {
          status.textContent = '';
          error.textContent = 'Enrollment failed: ' + ((s.failure && s.failure.message) || 'unknown reason');
          return;
        }
        const rep = s.report;
        status.textContent = `Enrollment complete: ${rep.stored} photo(s) stored, ${rep.rejected} rejected.`;
        photos.replaceChildren(
          ...rep.photos.map((p, n) =>
            el('tr', { 'data-status': p.status }, [
              el('td', { text: files[n] ? files[n].name : 'photo ' + (n + 1) }),
              el('td', {}, [
                el('span', {
                  class: 'badge s-' + (p.status === 'accepted' ? 'present' : 'absent'),
                  text: p.status,
                }),
              ]),
              el('td', { text: p.reason ? p.reason.message : 'face found' }),
              el('td', { class: 'n', text: p.quality ? p.quality.detectorScore.toFixed(2) : '—' }),
              el('td', { class: 'n', text: p.quality ? p.quality.sharpness.toFixed(1) : '—' }),
              el('td', { class: 'n', text: p.quality ? Math.round(p.quality.eyeDistancePx) + ' px' : '—' }),
            ]),
          ),
        );
        return;
      }
    }

    root.append(
      el('section', {}, [el('h2', { text: 'Enroll a student' }), form, status, error]),
      el('section', {}, [
        el('h2', { text: 'Photos' }),
        el('div', { class: 'scroll', tabindex: 0 }, [
          el('table', { id: 'enroll-table' }, [
            el('thead', {}, [
              el(
                'tr',
                {},
                ['Photo', 'Result', 'Why', 'Face score', 'Sharpness', 'Eye distance'].map((h) =>
                  el('th', { scope: 'col', text: h }),
                ),
              ),
            ]),
            photos,
          ]),
        ]),
      ]),
    );
  };
})();
