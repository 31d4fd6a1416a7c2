// School records (admins): students (#/students, and one student's enrollments at #/students/{id}), courses
// (#/courses for admins; teachers keep teacher.js's list), rooms (#/rooms) through /api/v1/admin/{students,
// courses,rooms,enrollments} — list with search and an active filter, add, edit, deactivate / reactivate with
// a reason, the API's `notices` (an imported row's next import may overwrite an edit, timetable rows paused,
// enrollments ended) shown under the table — and OneRoster imports (#/imports: upload a zip, follow the run,
// then its summary or its bad rows). Data is written with textContent only.
'use strict';
(function () {
  const R = window.Rollcall;
  const { el, api, link } = R;

  /** An API error as the person should read it: the message, then any other per-field issues. */
  function explain(err) {
    const issues = err.details && Array.isArray(err.details.issues) ? err.details.issues : [];
    const extra = issues
      .slice(1)
      .map((i) => `${i.field}: ${i.message}`)
      .join('; ');
    return err.message + (extra ? ` (also ${extra})` : '');
  }

  const adminOnly = (root, what) => {
    if (R.user.role === 'admin') return false;
    root.append(el('p', { class: 'error', text: `${what} are managed by admins.` }));
    return true;
  };

  function input(id, label, attrs) {
    return el('div', { class: 'field' }, [
      el('label', { for: id, text: label }),
      el('input', Object.assign({ id, name: id, autocomplete: 'off' }, attrs)),
    ]);
  }
  function select(id, label, children, attrs) {
    return el('div', { class: 'field' }, [
      el('label', { for: id, text: label }),
      el('select', Object.assign({ id, name: id }, attrs), children),
    ]);
  }

  function table(id, bodyId, heads, label) {
    const body = el('tbody', { id: bodyId });
    const box = el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': label }, [
      R.cards(
        el('table', { id }, [
          el('thead', {}, [
            el(
              'tr',
              {},
              heads.map((h) => el('th', { scope: 'col', text: h })),
            ),
          ]),
          body,
        ]),
      ),
    ]);
    return { body, box };
  }

  function stateBadge(active) {
    return el('span', {
      class: 'badge ' + (active ? 's-active' : 's-paused'),
      text: active ? 'active' : 'inactive',
    });
  }
  function sourceText(x) {
    return x.source === 'oneroster'
      ? `imported from OneRoster (${x.sourced_id})`
      : x.source
        ? `${x.source} (${x.sourced_id})`
        : 'added here';
  }

  /** The API's notices about a change, listed in `box` (a polite live region). */
  function showNotices(box, title, notices) {
    box.replaceChildren(
      el('p', { text: title }),
      ...(notices && notices.length
        ? [
            el(
              'ul',
              {},
              notices.map((n) => el('li', { text: n })),
            ),
          ]
        : []),
    );
  }

  /**
   * One admin list page in the shape of api/admin/crud.ts: a search and active filter, a table (the row's
   * first cell a row header), an add/edit form, deactivate / reactivate asking for a reason. Refusals of
   * a row's action are shown in that row; the form's at the form; notices under the table.
   */
  async function entityPage(root, spec) {
    const p = spec.entity;
    const base = '/api/v1/admin/' + spec.plural;
    const q = el('input', { id: p + '-q', type: 'search', maxlength: 100, autocomplete: 'off' });
    const activeFilter = el('select', { id: p + '-active' }, [
      el('option', { value: '', text: 'All' }),
      el('option', { value: 'true', text: 'Active' }),
      el('option', { value: 'false', text: 'Inactive' }),
    ]);
    const filters = el('form', { id: p + '-filter', class: 'inline-form', role: 'search' }, [
      el('label', { for: p + '-q', text: 'Search' }),
      q,
      el('label', { for: p + '-active', text: 'Show' }),
      activeFilter,
      el('button', { type: 'submit', id: p + '-search', text: 'Search' }),
    ]);
    filters.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void load().catch((err) => (listError.textContent = explain(err)));
    });
    activeFilter.addEventListener(
      'change',
      () => void load().catch((err) => (listError.textContent = explain(err))),
    );
    const { body, box } = table(p + '-table', p + '-body', spec.columns, spec.title);
    const listError = el('div', { id: spec.plural + '-error', class: 'error', role: 'alert' });
    const notices = el('div', { id: p + '-notices', role: 'status', class: 'notices' });
    const formError = el('div', { id: p + '-error', class: 'error', role: 'alert' });
    const addTitle = `Add a ${spec.noun}`;
    const formTitle = el('h2', { id: p + '-form-title', text: addTitle });
    const save = el('button', { type: 'submit', id: p + '-save', class: 'primary', text: 'Add' });
    const cancel = el('button', { type: 'button', id: p + '-cancel', text: 'Cancel edit', hidden: true });
    const form = el('form', { id: p + '-form', class: 'grid-form', 'aria-labelledby': p + '-form-title' }, [
      ...spec.fields(),
      el('div', { class: 'actions' }, [save, cancel]),
    ]);
    let editing = null;

    function startEdit(x) {
      editing = x;
      formTitle.textContent = `Edit ${spec.noun} ${x.id}`;
      save.textContent = 'Save changes';
      cancel.hidden = false;
      formError.textContent = '';
      R.$(p + '-id').value = x.id;
      R.$(p + '-id').disabled = true;
      spec.fill(x);
      R.$(p + '-name').focus();
    }
    function stopEdit() {
      editing = null;
      form.reset();
      R.$(p + '-id').disabled = false;
      formTitle.textContent = addTitle;
      save.textContent = 'Add';
      cancel.hidden = true;
    }
    cancel.addEventListener('click', () => {
      stopEdit();
      formError.textContent = '';
    });

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      formError.textContent = '';
      const values = spec.values();
      try {
        const r = editing
          ? await api(base + '/' + encodeURIComponent(editing.id), {
              method: 'PUT',
              body: JSON.stringify(values),
            })
          : await api(base, {
              method: 'POST',
              body: JSON.stringify(Object.assign({ id: R.$(p + '-id').value.trim() }, values)),
            });
        const x = r[p];
        const what = `${spec.Noun} ${x.id} ${editing ? 'saved' : 'added'}.`;
        showNotices(notices, what, r.notices);
        R.toast(what);
        stopEdit();
        await load();
      } catch (err) {
        formError.textContent = explain(err);
      }
    });

    async function setActive(x, active) {
      const rowError = R.$(`${p}-error-${x.id}`);
      rowError.textContent = '';
      const reason = await R.askReason(
        active ? `Reactivate ${spec.noun} ${x.id} (${x.name}).` : spec.deactivateWarning(x),
      );
      if (reason === null) return;
      try {
        const r = await api(`${base}/${encodeURIComponent(x.id)}/${active ? 'reactivate' : 'deactivate'}`, {
          method: 'POST',
          body: JSON.stringify({ reason }),
        });
        const what = `${spec.Noun} ${x.id} ${active ? 'reactivated' : 'deactivated'}.`;
        showNotices(notices, what, r.notices);
        R.toast(what);
        await load();
        const again = body.querySelector(`tr[data-id="${CSS.escape(x.id)}"] [data-action="active"]`);
        if (again) again.focus();
      } catch (err) {
        R.$(`${p}-error-${x.id}`).textContent = explain(err);
      }
    }

    async function load() {
      listError.textContent = '';
      const params = new URLSearchParams();
      if (q.value.trim()) params.set('q', q.value.trim());
      if (activeFilter.value) params.set('active', activeFilter.value);
      const qs = params.toString();
      const data = await api(base + (qs ? '?' + qs : ''));
      const rows = data[spec.plural];
      body.replaceChildren(
        ...(rows.length
          ? rows.map((x) =>
              el('tr', { 'data-id': x.id, ['data-' + p + '-id']: x.id, 'data-active': String(x.active) }, [
                el('th', { scope: 'row' }, [
                  el('span', { text: x.id }),
                  el('span', { class: 'muted', text: ' ' + x.name }),
                ]),
                ...spec.cells(x),
                el('td', { text: sourceText(x) }),
                el('td', {}, [stateBadge(x.active)]),
                el('td', {}, [
                  el('div', { class: 'actions' }, [
                    el('button', {
                      type: 'button',
                      text: 'Edit',
                      'data-action': 'edit',
                      'aria-label': `Edit ${x.id} ${x.name}`,
                      onclick: () => startEdit(x),
                    }),
                    el('button', {
                      type: 'button',
                      'data-action': 'active',
                      text: x.active ? 'Deactivate' : 'Reactivate',
                      'aria-label': `${x.active ? 'Deactivate' : 'Reactivate'} ${x.id} ${x.name}`,
                      onclick: () => void setActive(x, !x.active),
                    }),
                    ...(spec.actions ? spec.actions(x) : []),
                  ]),
                  el('p', { id: `${p}-error-${x.id}`, class: 'error row-error', role: 'alert' }),
                ]),
              ]),
            )
          : [
              el('tr', {}, [
                el('td', {
                  colspan: spec.columns.length,
                  class: 'muted',
                  text: `No ${spec.plural} match.`,
                }),
              ]),
            ]),
      );
      R.setUpdated(`${rows.length} ${spec.plural} · updated ${new Date().toLocaleTimeString()}`);
    }

    root.append(
      el('section', {}, [
        el('h2', { text: spec.title }),
        filters,
        listError,
        box,
        notices,
        spec.help ? el('p', { class: 'muted', text: spec.help }) : null,
      ]),
      el('section', {}, [formTitle, form, formError]),
    );
    await load();
    return { load };
  }

  // ---- Students ------------------------------------------------------------------------------------------
  R.views.students = async (root, studentId) => {
    if (adminOnly(root, 'Students')) return;
    await entityPage(root, {
      entity: 'student',
      plural: 'students',
      noun: 'student',
      Noun: 'Student',
      title: 'Students',
      columns: ['Student', 'E-mail', 'Courses', 'Source', 'State', 'Actions'],
      fields: () => [
        input('student-id', 'Student id', {
          required: true,
          maxlength: 64,
          pattern: '[A-Za-z0-9][A-Za-z0-9_.\\-]*',
        }),
        input('student-name', 'Name', { required: true, maxlength: 200 }),
        input('student-email', 'E-mail (optional)', { type: 'email', maxlength: 254 }),
      ],
      fill: (x) => {
        R.$('student-name').value = x.name;
        R.$('student-email').value = x.email || '';
      },
      values: () => ({
        name: R.$('student-name').value.trim(),
        email: R.$('student-email').value.trim() || null,
      }),
      cells: (x) => [
        el('td', { text: x.email || '—' }),
        el('td', { text: x.course_ids.join(', ') || 'none' }),
      ],
      actions: (x) => [
        el('a', {
          href: '#/students/' + encodeURIComponent(x.id),
          text: 'Enrollments',
          'aria-label': `Enrollments of ${x.id} ${x.name}`,
        }),
      ],
      deactivateWarning: (x) =>
        `Deactivate student ${x.id} (${x.name}): their enrollments end and devices drop their faces; attendance history is kept.`,
      help: 'Students are never deleted: attendance history refers to them. Deactivating ends their enrollments; reactivating restores them.',
    });
    if (studentId) await enrollmentsOf(root, studentId);
  };

  /** One student's enrollments: enroll into an active course, end or restore an enrollment. */
  async function enrollmentsOf(root, studentId) {
    const s = (await api('/api/v1/admin/students/' + encodeURIComponent(studentId))).student;
    const courses = (await api('/api/v1/admin/courses?active=true')).courses;
    const { body, box } = table(
      'enrollments-table',
      'enrollments-body',
      ['Course', 'Enrolled', 'Source', 'State', 'Actions'],
      `Enrollments of ${s.name}`,
    );
    const error = el('div', { id: 'enrollment-error', class: 'error', role: 'alert' });
    const notices = el('div', { id: 'enrollment-notices', role: 'status', class: 'notices' });
    const picker = el('select', { id: 'enroll-course', name: 'enroll-course', required: true }, [
      el('option', { value: '', text: 'Choose a course…' }),
      ...courses.map((c) => el('option', { value: c.id, text: `${c.id} ${c.name}` })),
    ]);
    const form = el('form', { id: 'enrollment-form', class: 'inline-form' }, [
      el('label', { for: 'enroll-course', text: 'Course' }),
      picker,
      el('button', { type: 'submit', id: 'enroll-add', class: 'primary', text: 'Enroll' }),
    ]);
    const path = (courseId, what) =>
      `/api/v1/admin/enrollments/${encodeURIComponent(courseId)}/${encodeURIComponent(studentId)}/${what}`;
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      try {
        const r = await api('/api/v1/admin/enrollments', {
          method: 'POST',
          body: JSON.stringify({ course_id: picker.value, student_id: studentId }),
        });
        const what = `${studentId} enrolled in ${r.enrollment.course_id}.`;
        showNotices(notices, what, r.notices);
        R.toast(what);
        form.reset();
        await load();
      } catch (err) {
        error.textContent = explain(err);
      }
    });

    async function setActive(e, active) {
      error.textContent = '';
      const reason = await R.askReason(
        active
          ? `Restore the enrollment of ${studentId} in ${e.course_id}.`
          : `End the enrollment of ${studentId} in ${e.course_id}: devices drop the student's faces for it; attendance history is kept.`,
      );
      if (reason === null) return;
      try {
        const r = await api(path(e.course_id, active ? 'reactivate' : 'deactivate'), {
          method: 'POST',
          body: JSON.stringify({ reason }),
        });
        const what = `Enrollment of ${studentId} in ${e.course_id} ${active ? 'restored' : 'ended'}.`;
        showNotices(notices, what, r.notices);
        R.toast(what);
        await load();
      } catch (err) {
        error.textContent = `${e.course_id}: ${explain(err)}`;
      }
    }

    async function load() {
      const { enrollments } = await api(
        '/api/v1/admin/enrollments?student_id=' + encodeURIComponent(studentId),
      );
      body.replaceChildren(
        ...(enrollments.length
          ? enrollments.map((e) =>
              el('tr', { 'data-course-id': e.course_id, 'data-active': String(e.active) }, [
                el('th', { scope: 'row' }, [
                  link('#/course/' + encodeURIComponent(e.course_id), e.course_id),
                ]),
                el('td', {
                  text:
                    R.dateTime(e.enrolled_at) +
                    (e.deactivated_at ? ' → ' + R.dateTime(e.deactivated_at) : ''),
                }),
                el('td', { text: sourceText(e) }),
                el('td', {}, [
                  el('span', {
                    class: 'badge ' + (e.active ? 's-active' : 's-paused'),
                    text: e.active
                      ? 'active'
                      : e.deactivated_because === 'student_deactivated'
                        ? 'ended with the student'
                        : 'ended',
                  }),
                ]),
                el('td', {}, [
                  el('button', {
                    type: 'button',
                    text: e.active ? 'End' : 'Restore',
                    'aria-label': `${e.active ? 'End' : 'Restore'} enrollment in ${e.course_id}`,
                    onclick: () => void setActive(e, !e.active),
                  }),
                ]),
              ]),
            )
          : [el('tr', {}, [el('td', { colspan: 5, class: 'muted', text: 'Not enrolled in any course.' })])]),
      );
    }

    const section = el('section', { id: 'student-enrollments' }, [
      el('h2', { id: 'enrollments-title', text: `Enrollments of ${s.id} ${s.name}` }),
      s.active
        ? null
        : el('p', { class: 'error', text: 'This student is inactive: reactivate them before enrolling.' }),
      box,
      notices,
      form,
      error,
    ]);
    root.prepend(section);
    await load();
  }

  // ---- Courses (admins; teachers keep teacher.js's list) ----------------------------------------------
  const teacherCourses = R.views.courses;
  R.views.courses = async (root, arg, params) => {
    if (R.user.role !== 'admin') return teacherCourses(root, arg, params);
    const users = (await api('/api/v1/admin/users')).users;
    const teachers = users.filter((u) => u.role === 'teacher' && u.status !== 'disabled');
    const teacherName = new Map(users.map((u) => [u.id, u.name]));
    await entityPage(root, {
      entity: 'course',
      plural: 'courses',
      noun: 'course',
      Noun: 'Course',
      title: 'Courses',
      columns: ['Course', 'Teacher', 'Students', 'Timetable', 'Source', 'State', 'Actions'],
      fields: () => [
        input('course-id', 'Course id', { required: true, maxlength: 64 }),
        input('course-name', 'Name', { required: true, maxlength: 200 }),
        select('course-teacher', 'Teacher', [
          el('option', { value: '', text: 'No teacher yet' }),
          ...teachers.map((t) => el('option', { value: t.id, text: `${t.name} (${t.email})` })),
        ]),
      ],
      fill: (x) => {
        R.$('course-name').value = x.name;
        R.$('course-teacher').value = x.teacher_id || '';
      },
      values: () => ({
        name: R.$('course-name').value.trim(),
        teacher_id: R.$('course-teacher').value || null,
      }),
      cells: (x) => [
        el('td', { text: x.teacher_id ? teacherName.get(x.teacher_id) || x.teacher_id : 'none yet' }),
        el('td', { class: 'n', text: x.student_count }),
        el('td', {
          text: x.active_schedule_ids.length ? `${x.active_schedule_ids.length} active row(s)` : 'none',
        }),
      ],
      actions: (x) => [
        el('a', {
          href: '#/course/' + encodeURIComponent(x.id),
          text: 'Attendance',
          'aria-label': `Attendance of ${x.id} ${x.name}`,
        }),
      ],
      deactivateWarning: (x) =>
        `Deactivate course ${x.id} (${x.name}): its active timetable rows are paused; enrollments and attendance history are kept.`,
      help: 'Deactivating a course pauses its timetable rows (their Temporal Schedules follow); reactivating resumes those that still fit.',
    });
  };

  // ---- Rooms ---------------------------------------------------------------------------------------------
  R.views.rooms = async (root) => {
    if (adminOnly(root, 'Rooms')) return;
    const zones = typeof Intl.supportedValuesOf === 'function' ? Intl.supportedValuesOf('timeZone') : ['UTC'];
    await entityPage(root, {
      entity: 'room',
      plural: 'rooms',
      noun: 'room',
      Noun: 'Room',
      title: 'Rooms',
      columns: ['Room', 'Building', 'Time zone', 'Timetable', 'Devices', 'Source', 'State', 'Actions'],
      fields: () => [
        input('room-id', 'Room id', { required: true, maxlength: 64 }),
        input('room-name', 'Name', { required: true, maxlength: 200 }),
        input('room-building', 'Building (optional)', { maxlength: 200 }),
        input('room-timezone', 'Time zone', {
          required: true,
          maxlength: 64,
          value: 'UTC',
          list: 'room-zones',
        }),
        el(
          'datalist',
          { id: 'room-zones' },
          zones.map((z) => el('option', { value: z })),
        ),
      ],
      fill: (x) => {
        R.$('room-name').value = x.name;
        R.$('room-building').value = x.building || '';
        R.$('room-timezone').value = x.timezone;
      },
      values: () => ({
        name: R.$('room-name').value.trim(),
        building: R.$('room-building').value.trim() || null,
        timezone: R.$('room-timezone').value.trim(),
      }),
      cells: (x) => [
        el('td', { text: x.building || '—' }),
        el('td', { text: x.timezone }),
        el('td', {
          text: x.active_schedule_ids.length ? `${x.active_schedule_ids.length} active row(s)` : 'none',
        }),
        el('td', { text: x.device_ids.join(', ') || 'none' }),
      ],
      deactivateWarning: (x) =>
        `Deactivate room ${x.id} (${x.name}). A room with active timetable rows cannot be deactivated.`,
      help: 'The time zone decides when the room’s classes start. A room in use by active timetable rows cannot be deactivated: pause or move them first.',
    });
  };

  // ---- OneRoster imports ---------------------------------------------------------------------------------
  const ENTITIES = [
    ['teacher', 'Teachers'],
    ['student', 'Students'],
    ['course', 'Courses'],
    ['enrollment', 'Enrollments'],
    ['schedule', 'Timetable rows'],
  ];
  const ACTIONS = ['create', 'update', 'deactivate', 'reactivate'];
  const FINISHED = ['applied', 'rejected', 'failed'];

  /** POSTs the zip as an application/zip body (api() sends JSON only), with the session's token. */
  async function uploadZip(file) {
    const res = await fetch('/api/v1/admin/imports', {
      method: 'POST',
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/zip',
        Authorization: 'Bearer ' + R.token(),
      },
      body: file,
    });
    const body = await res.json().catch(() => ({}));
    if (res.status === 401) R.signOut('Your session has expired; sign in again.');
    if (!res.ok) {
      const err = new Error((body.error && body.error.message) || 'HTTP ' + res.status);
      err.status = res.status;
      err.details = body.error && body.error.details;
      throw err;
    }
    return body;
  }

  R.views.imports = async (root, runId) => {
    if (adminOnly(root, 'Imports')) return;
    const file = el('input', {
      id: 'import-file',
      name: 'import-file',
      type: 'file',
      accept: '.zip,application/zip',
      required: true,
      'aria-describedby': 'import-help',
    });
    const error = el('div', { id: 'import-error', class: 'error', role: 'alert' });
    const status = el('p', { id: 'import-status', role: 'status' });
    const bar = el('progress', { id: 'import-progress', max: 1, value: 0, 'aria-label': 'Import progress' });
    const result = el('div', { id: 'import-result' });
    const submit = el('button', {
      type: 'submit',
      id: 'import-upload',
      class: 'primary',
      text: 'Upload and import',
    });
    const form = el('form', { id: 'import-form', class: 'stack-form' }, [
      el('label', { for: 'import-file', text: 'OneRoster bundle (.zip)' }),
      file,
      el('p', {
        id: 'import-help',
        class: 'muted',
        text: 'A OneRoster 1.1 or 1.2 CSV bundle (users, classes, enrollments, …; optionally rollcall_periods.csv). A bundle with any bad row changes nothing: its bad rows are listed here.',
      }),
      submit,
    ]);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      result.replaceChildren();
      const chosen = file.files[0];
      if (!chosen) {
        error.textContent = 'Choose a .zip file first.';
        return;
      }
      submit.disabled = true;
      try {
        status.textContent = `Uploading ${chosen.name}…`;
        const started = await uploadZip(chosen);
        history.replaceState(null, '', '#/imports/' + encodeURIComponent(started.run_id));
        await follow(started.run_id);
      } catch (err) {
        status.textContent = '';
        error.textContent = explain(err);
      } finally {
        submit.disabled = false;
      }
    });

    async function follow(id) {
      const run = await R.follow(
        'import',
        () => api('/api/v1/admin/imports/' + encodeURIComponent(id)),
        (state, seconds) => {
          if (FINISHED.includes(state.status)) return false;
          const pr = state.progress;
          const batches = pr && pr.batchesTotal ? `, batch ${pr.batchesDone} of ${pr.batchesTotal}` : '';
          status.textContent = `Import ${state.status}${pr ? ` (${pr.phase}${batches})` : ''}: ${seconds} s so far…`;
          if (pr && pr.batchesTotal) {
            bar.max = pr.batchesTotal;
            bar.value = pr.batchesDone;
          } else bar.removeAttribute('value');
          return true;
        },
      );
      if (!run) return;
      bar.max = 1;
      bar.value = 1;
      render(run);
    }

    function render(run) {
      const s = run.summary || {};
      const when = run.finishedAt ? ` at ${R.dateTime(run.finishedAt)}` : '';
      const name = run.fileName ? ` of ${run.fileName}` : '';
      if (run.status === 'failed') {
        status.textContent = `The import${name} failed${when}.`;
        error.textContent =
          'The import workflow failed; nothing more was applied. Look at it in the Temporal UI.';
        return;
      }
      if (run.status === 'rejected') {
        const issues = (run.issues && run.issues.list) || [];
        const count = (run.issues && run.issues.count) || issues.length;
        status.textContent = `Rejected${when}: ${count} bad row(s); nothing was changed. Fix them and upload again.`;
        const t = table('import-issues', 'import-issues-body', ['File', 'Line', 'Reason'], 'Bad rows');
        t.body.append(
          ...issues.map((i) =>
            el('tr', { 'data-file': i.file }, [
              el('th', { scope: 'row', text: i.file }),
              el('td', { class: 'n', text: i.line || '—' }),
              el('td', { text: i.reason }),
            ]),
          ),
        );
        result.replaceChildren(
          el('h2', { text: 'Bad rows' }),
          ...(count > issues.length
            ? [el('p', { class: 'muted', text: `The first ${issues.length} of ${count} are listed.` })]
            : []),
          t.box,
        );
        return;
      }
      status.textContent = `Applied${when}: ${s.totalChanges ?? 0} change(s).`;
      const changes = s.changes || {};
      const t = table(
        'import-changes',
        'import-changes-body',
        ['Records', 'Created', 'Updated', 'Deactivated', 'Reactivated'],
        'Changes',
      );
      t.body.append(
        ...ENTITIES.map(([key, label]) =>
          el('tr', { 'data-entity': key }, [
            el('th', { scope: 'row', text: label }),
            ...ACTIONS.map((a) => el('td', { class: 'n', text: (changes[key] && changes[key][a]) || 0 })),
          ]),
        ),
      );
      const parts = [el('h2', { text: 'Summary' }), t.box];
      const gaps = s.needsTimetable || [];
      if (gaps.length) {
        const g = table(
          'import-gaps',
          'import-gaps-body',
          ['Class', 'Title', 'Why'],
          'Classes needing a room',
        );
        g.body.append(
          ...gaps.map((x) =>
            el('tr', { 'data-class': x.classSourcedId }, [
              el('th', { scope: 'row', text: x.classSourcedId }),
              el('td', { text: x.title }),
              el('td', { text: x.reason }),
            ]),
          ),
        );
        parts.push(
          el('h3', { text: `${gaps.length} class(es) still need a room and times` }),
          el('p', {}, ['Add them on the ', link('#/timetable', 'timetable'), '.']),
          g.box,
        );
      }
      const failed = s.failed || [];
      if (failed.length) {
        const f = table('import-failed', 'import-failed-body', ['Record', 'Kind', 'Why'], 'Changes not made');
        f.body.append(
          ...failed.map((x) =>
            el('tr', {}, [
              el('th', { scope: 'row', text: x.sourcedId }),
              el('td', { text: x.entity }),
              el('td', { text: x.reason }),
            ]),
          ),
        );
        parts.push(el('h3', { text: `${failed.length} change(s) could not be made` }), f.box);
      }
      if (s.ignored && (s.ignored.users || s.ignored.enrollments))
        parts.push(
          el('p', {
            class: 'muted',
            text: `Ignored: ${s.ignored.users} user(s) and ${s.ignored.enrollments} enrollment(s) of other roles.`,
          }),
        );
      result.replaceChildren(...parts);
    }

    root.append(
      el('section', {}, [el('h2', { text: 'Import a OneRoster bundle' }), form, error]),
      el('section', { 'aria-labelledby': 'import-run-title' }, [
        el('h2', { id: 'import-run-title', text: 'Import run' }),
        bar,
        status,
        result,
      ]),
    );
    if (runId) await follow(runId);
  };
})();
