// Admin views: devices (health from GET /api/v1/dashboard/devices; provision, rotate and decommission
// through /api/v1/admin/devices — a new key is shown once, on this page only, and never stored), the
// timetable (list, add, edit, pause/resume through /api/v1/admin/schedules; the API's 409/422 answers shown
// at the form) and enrollment (pick a student, consent, photo upload, progress of the workflow and the
// pipeline's per-photo verdict).
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
          R.cards(
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
          ),
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

  // ---- Timetable -----------------------------------------------------------------------------------------
  const DAYS = ['', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];

  /** An error from the API as the person should read it: the message, then any per-field issues. */
  function explain(err) {
    const issues = err.details && Array.isArray(err.details.issues) ? err.details.issues : [];
    const extra = issues
      .slice(1)
      .map((i) => `${i.field}: ${i.message}`)
      .join('; ');
    return err.message + (extra ? ` (also ${extra})` : '');
  }

  R.views.timetable = async (root) => {
    if (R.user.role !== 'admin') {
      root.append(el('p', { class: 'error', text: 'The timetable is managed by admins.' }));
      return;
    }
    const school = await api('/api/v1/dashboard/school');
    const courseName = new Map(school.courses.map((c) => [c.id, c.name]));
    const options = (list, label) => list.map((x) => el('option', { value: x.id, text: label(x) }));
    // Each label and its control in one cell of the form's grid.
    const select = (id, label, children, attrs) =>
      el('div', { class: 'field' }, [
        el('label', { for: id, text: label }),
        el('select', Object.assign({ id, name: id }, attrs), children),
      ]);
    const input = (id, label, attrs) => el('div', { class: 'field' }, field(id, label, attrs));

    const roomFilter = el('select', { id: 'timetable-room', onchange: () => void load() }, [
      el('option', { value: '', text: 'All rooms' }),
      ...options(school.rooms, (r) => `${r.id} ${r.name}`),
    ]);
    const body = el('tbody', { id: 'timetable-body' });
    const listError = el('div', { id: 'timetable-error', class: 'error', role: 'alert' });
    const formError = el('div', { id: 'schedule-error', class: 'error', role: 'alert' });
    const formTitle = el('h2', { id: 'schedule-form-title', text: 'Add a class to the timetable' });
    const save = el('button', { type: 'submit', id: 'schedule-save', class: 'primary', text: 'Add' });
    const cancel = el('button', { type: 'button', id: 'schedule-cancel', text: 'Cancel edit', hidden: true });
    const form = el(
      'form',
      { id: 'schedule-form', class: 'grid-form', 'aria-labelledby': 'schedule-form-title' },
      [
        select(
          'schedule-course',
          'Course',
          options(school.courses, (c) => `${c.id} ${c.name}`),
          { required: true },
        ),
        select(
          'schedule-room',
          'Room',
          options(school.rooms, (r) => `${r.id} ${r.name}`),
          { required: true },
        ),
        select(
          'schedule-day',
          'Day',
          DAYS.slice(1).map((d, i) => el('option', { value: i + 1, text: d })),
          { required: true },
        ),
        input('schedule-start', 'Starts', { type: 'time', required: true }),
        input('schedule-end', 'Ends', { type: 'time', required: true }),
        input('schedule-from', 'Effective from (empty: today)', { type: 'date' }),
        input('schedule-to', 'Effective until (empty: no end)', { type: 'date' }),
        input('schedule-late', 'Late after (minutes)', {
          type: 'number',
          min: 0,
          max: 240,
          value: 10,
          required: true,
        }),
        el('div', { class: 'check' }, [
          el('input', { type: 'checkbox', id: 'schedule-active', checked: true }),
          el('label', { for: 'schedule-active', text: ' Active (unticked: paused, no sessions start)' }),
        ]),
        el('div', { class: 'actions' }, [save, cancel]),
      ],
    );
    let editing = null;

    function startEdit(row) {
      editing = row;
      formTitle.textContent = `Edit timetable row ${row.id} (${row.course_id}, ${DAYS[row.day_of_week]})`;
      save.textContent = 'Save changes';
      cancel.hidden = false;
      formError.textContent = '';
      R.$('schedule-course').value = row.course_id;
      R.$('schedule-room').value = row.room_id;
      R.$('schedule-day').value = String(row.day_of_week);
      R.$('schedule-start').value = row.start_time;
      R.$('schedule-end').value = row.end_time;
      R.$('schedule-from').value = row.effective_from;
      R.$('schedule-to').value = row.effective_to || '';
      R.$('schedule-late').value = String(row.late_after_minutes);
      R.$('schedule-active').checked = row.active;
      R.$('schedule-course').focus();
    }
    function stopEdit() {
      editing = null;
      form.reset();
      formTitle.textContent = 'Add a class to the timetable';
      save.textContent = 'Add';
      cancel.hidden = true;
    }
    cancel.addEventListener('click', () => {
      stopEdit();
      formError.textContent = '';
    });

    const rowBody = (row, patch) =>
      Object.assign(
        {
          course_id: row.course_id,
          room_id: row.room_id,
          day_of_week: row.day_of_week,
          start_time: row.start_time,
          end_time: row.end_time,
          effective_from: row.effective_from,
          effective_to: row.effective_to,
          late_after_minutes: row.late_after_minutes,
          active: row.active,
        },
        patch,
      );
    const put = (id, body) =>
      api('/api/v1/admin/schedules/' + id, { method: 'PUT', body: JSON.stringify(body) });

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError.textContent = '';
      const from = R.$('schedule-from').value;
      const body = {
        course_id: R.$('schedule-course').value,
        room_id: R.$('schedule-room').value,
        day_of_week: Number(R.$('schedule-day').value),
        start_time: R.$('schedule-start').value.slice(0, 5),
        end_time: R.$('schedule-end').value.slice(0, 5),
        effective_to: R.$('schedule-to').value || null,
        late_after_minutes: Number(R.$('schedule-late').value),
        active: R.$('schedule-active').checked,
      };
      if (from) body.effective_from = from;
      try {
        const r = editing
          ? await put(editing.id, body)
          : await api('/api/v1/admin/schedules', { method: 'POST', body: JSON.stringify(body) });
        R.toast(`Timetable row ${r.schedule.id} ${editing ? 'saved' : 'added'}.`);
        stopEdit();
        await load();
      } catch (err) {
        formError.textContent = explain(err);
      }
    });

    async function setActive(row, active) {
      listError.textContent = '';
      try {
        await put(row.id, rowBody(row, { active }));
        R.toast(`Timetable row ${row.id} ${active ? 'resumed' : 'paused'}.`);
        await load();
      } catch (err) {
        listError.textContent = `Row ${row.id} (${row.course_id}, ${DAYS[row.day_of_week]}): ${explain(err)}`;
      }
    }

    async function load() {
      const q = roomFilter.value ? '?room_id=' + encodeURIComponent(roomFilter.value) : '';
      const data = await api('/api/v1/admin/schedules' + q);
      body.replaceChildren(
        ...(data.schedules.length
          ? data.schedules.map((row) => {
              const what = `${row.course_id} ${DAYS[row.day_of_week]} ${row.start_time}`;
              return el('tr', { 'data-schedule-id': row.id, 'data-active': String(row.active) }, [
                el('th', { scope: 'row' }, [
                  el('span', { text: row.course_id }),
                  el('span', { class: 'muted', text: ' ' + (courseName.get(row.course_id) || '') }),
                ]),
                el('td', { text: row.room_id }),
                el('td', { text: DAYS[row.day_of_week] }),
                el('td', { text: `${row.start_time}–${row.end_time}` }),
                el('td', { text: `${row.effective_from} → ${row.effective_to || 'no end'}` }),
                el('td', { class: 'n', text: row.late_after_minutes + ' min' }),
                el('td', {}, [
                  el('span', {
                    class: 'badge ' + (row.active ? 's-active' : 's-paused'),
                    text: row.active ? 'active' : 'paused',
                  }),
                ]),
                el('td', {}, [
                  el('button', {
                    type: 'button',
                    text: 'Edit',
                    'aria-label': 'Edit ' + what,
                    onclick: () => startEdit(row),
                  }),
                  ' ',
                  el('button', {
                    type: 'button',
                    text: row.active ? 'Pause' : 'Resume',
                    'aria-label': (row.active ? 'Pause ' : 'Resume ') + what,
                    onclick: () => void setActive(row, !row.active),
                  }),
                ]),
              ]);
            })
          : [el('tr', {}, [el('td', { colspan: 8, class: 'muted', text: 'No timetable rows.' })])]),
      );
      R.setUpdated('Updated ' + new Date().toLocaleTimeString());
    }

    root.append(
      el('section', {}, [
        el('h2', { text: 'Timetable' }),
        el('p', { class: 'inline-form' }, [el('label', { for: 'timetable-room', text: 'Room' }), roomFilter]),
        listError,
        el('div', { class: 'scroll', tabindex: 0 }, [
          R.cards(
            el('table', { id: 'timetable' }, [
              el('thead', {}, [
                el(
                  'tr',
                  {},
                  ['Course', 'Room', 'Day', 'Time', 'Effective', 'Late after', 'State', 'Actions'].map((h) =>
                    el('th', { scope: 'col', text: h }),
                  ),
                ),
              ]),
              body,
            ]),
          ),
        ]),
        el('p', {
          class: 'muted',
          text: 'Changes start the timetable:sync workflow, which keeps one Temporal Schedule per active row. Rows with sessions cannot be deleted: pause them or give them an end date.',
        }),
      ]),
      el('section', {}, [formTitle, form, formError]),
    );
    await load();
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

  const STEPS = [
    ['consent', 'Record consent'],
    ['upload', 'Upload photos'],
    ['workflow', 'Detect, align and encode each photo (enrollment workflow)'],
    ['done', 'Store the accepted faces'],
  ];

  R.views.enroll = async (root, initialStudent) => {
    const status = el('div', { id: 'enroll-status', role: 'status' });
    const error = el('div', { id: 'enroll-error', class: 'error', role: 'alert' });
    const photos = el('tbody', { id: 'enroll-photos' });
    const picker = el('select', { id: 'student-id', name: 'student-id', required: true });
    const state = el('p', { id: 'student-state', class: 'muted' });
    const bar = el('progress', {
      id: 'enroll-progress',
      max: STEPS.length,
      value: 0,
      'aria-labelledby': 'enroll-progress-label',
    });
    const stepItems = new Map(
      STEPS.map(([key, text]) => [
        key,
        el('li', { 'data-step': key, 'data-state': 'pending' }, [
          el('span', { text }),
          el('span', { class: 'muted step-state', text: ' — waiting' }),
        ]),
      ]),
    );
    let students = [];

    function step(key, stateName, note) {
      const li = stepItems.get(key);
      li.dataset.state = stateName;
      li.lastChild.textContent =
        ' — ' +
        ({ pending: 'waiting', working: 'in progress', done: 'done', failed: 'failed' }[stateName] ||
          stateName) +
        (note ? ': ' + note : '');
      bar.value = STEPS.filter(([k]) => stepItems.get(k).dataset.state === 'done').length;
    }

    function describeStudent() {
      const s = students.find((x) => x.id === picker.value);
      state.textContent = s
        ? `${s.name}: consent ${s.consent ? 'on file' : 'not yet recorded'} · ${s.embeddings} face embedding(s) stored · courses ${s.courses.join(', ') || 'none'}`
        : '';
    }
    picker.addEventListener('change', describeStudent);

    async function loadStudents() {
      const chosen = picker.value || initialStudent || '';
      students = (await api('/api/v1/dashboard/students')).students;
      picker.replaceChildren(
        el('option', { value: '', text: 'Choose a student…' }),
        ...students.map((s) =>
          el('option', {
            value: s.id,
            text: `${s.id} ${s.name}` + (s.embeddings ? ` (enrolled: ${s.embeddings})` : ''),
          }),
        ),
      );
      picker.value = students.some((s) => s.id === chosen) ? chosen : '';
      describeStudent();
    }

    const fileInput = el('input', {
      id: 'photos',
      name: 'photos',
      type: 'file',
      accept: 'image/jpeg,image/png,image/webp',
      multiple: true,
      required: true,
      'aria-describedby': 'photos-help',
    });
    const form = el('form', { id: 'enroll-form', class: 'stack-form' }, [
      el('label', { for: 'student-id', text: 'Student' }),
      picker,
      state,
      el('div', { class: 'check' }, [
        el('input', { type: 'checkbox', id: 'consent', required: true }),
        el('label', {
          for: 'consent',
          text: ' The student (or their guardian) has given written consent to biometric enrollment.',
        }),
      ]),
      el('label', { for: 'photos', text: 'Photos' }),
      fileInput,
      el('p', {
        id: 'photos-help',
        class: 'muted',
        text: '1–10 photos, JPEG, PNG or WebP, one face each, well lit and sharp. Photos are deleted once encoded.',
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
      for (const [key] of STEPS) step(key, 'pending');
      const studentId = picker.value;
      files = [...fileInput.files];
      if (files.length > 10) {
        error.textContent = `Choose at most 10 photos (${files.length} chosen).`;
        return;
      }
      const path = '/api/v1/students/' + encodeURIComponent(studentId);
      const submit = R.$('enroll-submit');
      submit.disabled = true;
      let current = 'consent';
      try {
        step('consent', 'working');
        status.textContent = 'Recording consent…';
        await api(path + '/consent', { method: 'POST', body: JSON.stringify({}) });
        step('consent', 'done');
        current = 'upload';
        step('upload', 'working', `${files.length} photo(s)`);
        status.textContent = `Uploading ${files.length} photo(s)…`;
        const images = await Promise.all(files.map(readBase64));
        await api(path + '/photos', { method: 'POST', body: JSON.stringify({ images }) });
        step('upload', 'done', `${files.length} photo(s)`);
        current = 'workflow';
        step('workflow', 'working');
        status.textContent = 'Enrollment running (the first run on a worker also loads the face models)…';
        await follow(path);
      } catch (err) {
        step(current, 'failed');
        status.textContent = '';
        error.textContent = err.message;
      } finally {
        submit.disabled = false;
      }
    });

    async function follow(path) {
      let secs = 0;
      const s = await R.follow(
        'enrollment',
        () => api(path + '/enrollment'),
        (state, seconds) => {
          secs = seconds;
          if (state.status !== 'running') return false;
          status.textContent = `Enrollment running: ${secs} s so far (the first run on a worker also loads the face models)…`;
          step('workflow', 'working', `${secs} s`);
          return true;
        },
      );
      if (!s) return;
      if (s.status === 'failed') {
        throw new Error('Enrollment failed: ' + ((s.failure && s.failure.message) || 'unknown reason'));
      }
      const rep = s.report;
      step('workflow', 'done', `${secs} s`);
      step('done', rep.stored ? 'done' : 'failed', `${rep.stored} stored, ${rep.rejected} rejected`);
      status.textContent = `Enrollment complete: ${rep.stored} photo(s) stored, ${rep.rejected} rejected.`;
      photos.replaceChildren(
        ...rep.photos.map((p, n) =>
          el('tr', { 'data-status': p.status }, [
            el('th', { scope: 'row', text: files[n] ? files[n].name : 'photo ' + (n + 1) }),
            el('td', {}, [
              el('span', {
                class: 'badge s-' + (p.status === 'accepted' ? 'present' : 'absent'),
                text: p.status,
              }),
            ]),
            el('td', { text: p.reason ? p.reason.message : 'one face found' }),
            el('td', { class: 'n', text: p.quality ? p.quality.detectorScore.toFixed(2) : '—' }),
            el('td', { class: 'n', text: p.quality ? p.quality.sharpness.toFixed(1) : '—' }),
            el('td', { class: 'n', text: p.quality ? Math.round(p.quality.eyeDistancePx) + ' px' : '—' }),
          ]),
        ),
      );
      await loadStudents();
    }

    root.append(
      el('section', {}, [el('h2', { text: 'Enroll a student' }), form]),
      el('section', { 'aria-labelledby': 'enroll-progress-title' }, [
        el('h2', { id: 'enroll-progress-title', text: 'Progress' }),
        el('p', { id: 'enroll-progress-label', class: 'visually-hidden', text: 'Enrollment progress' }),
        bar,
        el('ol', { id: 'enroll-steps', class: 'steps' }, [...stepItems.values()]),
        status,
        error,
      ]),
      el('section', {}, [
        el('h2', { text: 'Photos' }),
        el('div', { class: 'scroll', tabindex: 0 }, [
          R.cards(
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
          ),
        ]),
      ]),
    );
    await loadStudents();
  };
})();
