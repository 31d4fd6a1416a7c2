// Teacher views: today's classes, a class's live roster with one-click corrections (each through the
// session workflow's override update, POST /api/v1/sessions/{id}/overrides, with a required reason; undo
// re-applies the previous status the same way, `unmarked` included: the workflow withdraws a correction that
// created the mark, and says why when it cannot), the session's audit trail, a student's history, a
// course's grid (CSV download), consecutive absences, and small charts. The server limits a teacher to
// their own courses; these views only ask for what it allows.
'use strict';
(function () {
  const R = window.Rollcall;
  const { el, api, link, time } = R;
  const STATUSES = ['present', 'late', 'absent', 'excused'];
  const LABEL = {
    present: 'Present',
    late: 'Late',
    absent: 'Absent',
    excused: 'Excused',
    unmarked: 'Unmarked',
  };
  const ROSTER_POLL_MS = 3000;

  /** A table in a keyboard-scrollable box; a card per row on phones unless `wide` (a 2-D grid stays a grid). */
  const table = (headers, rows, attrs, wide) => {
    const t = el('table', attrs || {}, [
      el('thead', {}, [
        el(
          'tr',
          {},
          headers.map((h) => el('th', { scope: 'col', text: h })),
        ),
      ]),
      el('tbody', {}, rows),
    ]);
    return el('div', { class: 'scroll', tabindex: 0 }, [wide ? t : R.cards(t)]);
  };
  const badge = (status) => el('span', { class: 'badge s-' + status, text: LABEL[status] || status });
  const pct = (v) => (v === null || v === undefined ? '—' : v + '%');
  const sessionHref = (id) => '#/session/' + encodeURIComponent(id);

  // ---- Today ------------------------------------------------------------------------------------------
  R.views.today = async (root) => {
    const classesBox = el('div', { id: 'sessions' });
    const devicesBody = el('tbody', { id: 'devices-body' });
    root.append(
      el('section', {}, [el('h2', { text: "Today's classes" }), classesBox]),
      el('section', {}, [
        el('h2', { text: R.user.role === 'admin' ? 'Devices' : 'Devices in your rooms' }),
        el('div', { class: 'scroll', tabindex: 0 }, [
          R.cards(
            el('table', {}, [
              el('thead', {}, [
                el(
                  'tr',
                  {},
                  ['Device', 'Room', 'Status', 'Last seen', 'Workflow'].map((h) =>
                    el('th', { scope: 'col', text: h }),
                  ),
                ),
              ]),
              devicesBody,
            ]),
          ),
        ]),
      ]),
    );
    await R.every(10_000, async () => {
      const [today, overview] = await Promise.all([
        api('/api/v1/dashboard/today'),
        api('/api/v1/dashboard/overview'),
      ]);
      R.temporalUi = overview.temporal_ui;
      R.$('temporal-link').href = overview.temporal_ui;
      const wf = (id) =>
        overview.temporal_ui.replace(/\/$/, '') + '/namespaces/default/workflows/' + encodeURIComponent(id);
      const links = new Map();
      for (const room of overview.rooms)
        for (const s of room.sessions) links.set(s.session_id, s.workflow_url);
      if (today.classes.length === 0) {
        classesBox.replaceChildren(el('p', { class: 'muted', text: 'No classes are timetabled today.' }));
      } else {
        classesBox.replaceChildren(
          table(
            [
              'Course',
              'Room',
              'Time',
              'Status',
              'Present',
              'Late',
              'Absent',
              'Excused',
              'Unmarked',
              'Workflow',
            ],
            today.classes.map((c) =>
              el('tr', { 'data-session-id': c.session_id }, [
                el('td', {}, [link(sessionHref(c.session_id), c.course_id + ' ' + c.course_name)]),
                el('td', { text: c.room_id }),
                el('td', { text: time(c.starts_at) + '–' + time(c.ends_at) }),
                el('td', { text: c.status }),
                el('td', { class: 'n', text: c.counts.present }),
                el('td', { class: 'n', text: c.counts.late }),
                el('td', { class: 'n', text: c.counts.absent }),
                el('td', { class: 'n', text: c.counts.excused }),
                el('td', { class: 'n', text: c.counts.unmarked }),
                el('td', {}, [
                  c.status === 'scheduled'
                    ? el('span', { class: 'muted', text: 'not started' })
                    : link(links.get(c.session_id) || wf(c.session_id), 'Temporal', true),
                ]),
              ]),
            ),
          ),
        );
      }
      devicesBody.replaceChildren(
        ...overview.devices.map((d) =>
          el('tr', {}, [
            el('td', { text: d.id }),
            el('td', { text: d.room_id }),
            el('td', {}, [badge(d.status)]),
            el('td', { text: d.last_seen ? R.dateTime(d.last_seen) : 'never' }),
            el('td', {}, [link(d.workflow_url, 'device:' + d.id, true)]),
          ]),
        ),
      );
      R.setUpdated('Updated ' + new Date(today.generated_at).toLocaleTimeString());
    });
  };

  // ---- One class: live roster ------------------------------------------------------------------------
  R.views.session = async (root, sessionId) => {
    const heading = el('h2', { text: 'Class ' + sessionId });
    const summary = el('p', { id: 'session-summary', class: 'muted' });
    const rosterBody = el('tbody', { id: 'roster-body' });
    const auditBody = el('tbody', { id: 'audit-body' });
    const notice = el('p', { id: 'roster-notice', class: 'muted' });
    root.append(
      el('p', {}, [link('#/today', '← Today')]),
      el('section', {}, [
        heading,
        summary,
        notice,
        el('div', { class: 'scroll', tabindex: 0 }, [
          R.cards(
            el('table', { id: 'roster', 'aria-describedby': 'session-summary' }, [
              el('thead', {}, [
                el(
                  'tr',
                  {},
                  ['Student', 'Status', 'First seen', 'Device', 'Source', 'Correct'].map((h) =>
                    el('th', { scope: 'col', text: h }),
                  ),
                ),
              ]),
              rosterBody,
            ]),
          ),
        ]),
      ]),
      el('section', {}, [
        el('h2', { text: 'Corrections (audit log)' }),
        el('div', { class: 'scroll', tabindex: 0 }, [
          R.cards(
            el('table', { id: 'audit' }, [
              el('thead', {}, [
                el(
                  'tr',
                  {},
                  ['When', 'Who', 'Student', 'Change', 'Reason'].map((h) =>
                    el('th', { scope: 'col', text: h }),
                  ),
                ),
              ]),
              auditBody,
            ]),
          ),
        ]),
      ]),
    );

    const rows = new Map();
    let courseId = null;

    async function override(studentId, name, status, reason) {
      return api('/api/v1/sessions/' + encodeURIComponent(sessionId) + '/overrides', {
        method: 'POST',
        body: JSON.stringify({ student_id: studentId, status, reason }),
      });
    }

    async function correct(r, status) {
      const before = r.status;
      const reason = await R.askReason(`Mark ${r.name} (${r.studentId}) ${LABEL[status].toLowerCase()}.`);
      if (reason === null) return;
      try {
        await override(r.studentId, r.name, status, reason);
      } catch (err) {
        R.toast(`Could not mark ${r.name}: ${err.message}`);
        return;
      }
      await refresh();
      // Undo to unmarked withdraws the correction; the session refuses it once a device has seen the student
      // or the class is finalised (then unmarked means absent), and the toast says so.
      const undoable = before !== status && (STATUSES.includes(before) || before === 'unmarked');
      R.toast(
        `${r.name} marked ${LABEL[status].toLowerCase()}.`,
        undoable
          ? {
              label: 'Undo',
              run: async () => {
                try {
                  await override(r.studentId, r.name, before, 'Undo: ' + reason);
                  await refresh();
                  R.toast(`${r.name} is ${LABEL[before].toLowerCase()} again.`);
                } catch (err) {
                  R.toast(`Undo failed: ${err.message}`);
                }
              },
            }
          : undefined,
      );
    }

    function rowFor(s) {
      let r = rows.get(s.student_id);
      if (r) return r;
      r = { studentId: s.student_id, name: s.student_name, status: null, cells: {} };
      const buttons = STATUSES.map((st) =>
        el('button', {
          type: 'button',
          class: 'mark m-' + st,
          'data-status': st,
          'aria-pressed': 'false',
          'aria-label': `${LABEL[st]}: ${s.student_name}`,
          text: LABEL[st],
          onclick: () => void correct(r, st),
        }),
      );
      r.buttons = buttons;
      r.cells.status = el('td');
      r.cells.seen = el('td');
      r.cells.device = el('td');
      r.cells.source = el('td');
      r.tr = el('tr', { 'data-student-id': s.student_id }, [
        el('th', { scope: 'row' }, [
          link('#/student/' + encodeURIComponent(s.student_id), s.student_name),
          el('span', { class: 'muted', text: ' ' + s.student_id }),
        ]),
        r.cells.status,
        r.cells.seen,
        r.cells.device,
        r.cells.source,
        el('td', {}, [
          el('div', { class: 'marks', role: 'group', 'aria-label': 'Correct ' + s.student_name }, buttons),
        ]),
      ]);
      rows.set(s.student_id, r);
      rosterBody.append(r.tr);
      return r;
    }

    function update(s) {
      const r = rowFor(s);
      if (r.status !== s.status) {
        r.status = s.status;
        r.tr.setAttribute('data-status', s.status);
        r.cells.status.replaceChildren(badge(s.status));
      }
      r.cells.seen.textContent = s.source === 'device' || s.source === 'override' ? time(s.marked_at) : '—';
      r.cells.device.textContent = s.device_id || '—';
      r.cells.source.textContent = s.source || '—';
      for (const b of r.buttons) b.setAttribute('aria-pressed', String(b.dataset.status === s.status));
    }

    async function refresh() {
      let data;
      try {
        data = await api('/api/v1/sessions/' + encodeURIComponent(sessionId));
      } catch (err) {
        if (err.status === 404) {
          notice.textContent =
            'This class has not started: its roster appears with the first mark from the room’s camera.';
          return;
        }
        throw err;
      }
      notice.textContent = '';
      const s = data.session;
      courseId = s.course_id;
      heading.textContent = `${s.course_id} · ${time(s.starts_at)}–${time(s.ends_at)} · ${s.room_id}`;
      const counts = { present: 0, late: 0, absent: 0, excused: 0, unmarked: 0 };
      for (const st of data.roster) {
        counts[st.status] = (counts[st.status] || 0) + 1;
        update(st);
      }
      summary.textContent =
        `Session ${s.status}. ` +
        Object.entries(counts)
          .map(([k, n]) => `${LABEL[k]} ${n}`)
          .join(' · ') +
        (courseId ? '' : '');
      const audit = await api('/api/v1/sessions/' + encodeURIComponent(sessionId) + '/audit');
      auditBody.replaceChildren(
        ...(audit.entries.length
          ? audit.entries.map((a) =>
              el('tr', { 'data-student-id': a.student_id }, [
                el('td', { text: R.dateTime(a.at) }),
                el('td', { text: a.actor_name || a.actor }),
                el('td', { text: a.student_id }),
                el('td', {
                  text: `${(a.before && a.before.status) || 'unmarked'} → ${(a.after && a.after.status) || '?'}`,
                }),
                el('td', { text: a.reason || '' }),
              ]),
            )
          : [el('tr', {}, [el('td', { colspan: 5, class: 'muted', text: 'No corrections yet.' })])]),
      );
      R.setUpdated('Live: updated ' + new Date().toLocaleTimeString());
    }

    await R.every(ROSTER_POLL_MS, refresh);
  };

  // ---- A student's history -----------------------------------------------------------------------------
  R.views.student = async (root, studentId) => {
    const data = await api('/api/v1/attendance/student/' + encodeURIComponent(studentId));
    const records = data.records
      .slice()
      .sort((a, b) => String(a.marked_at).localeCompare(String(b.marked_at)));
    // The trend: attendance % over the sessions so far (present or late over all but excused).
    let attended = 0;
    let counted = 0;
    const trend = records.map((r) => {
      if (r.status !== 'excused') counted++;
      if (r.status === 'present' || r.status === 'late') attended++;
      return {
        label: String(r.session_date).slice(0, 10),
        value: counted ? Math.round((1000 * attended) / counted) / 10 : null,
      };
    });
    root.append(
      el('p', {}, [link('#/today', '← Today')]),
      el('section', {}, [
        el('h2', { text: `${data.student.name} (${data.student.id})` }),
        table(
          ['Course', 'Sessions', 'Present', 'Late', 'Absent', 'Excused', 'Attendance'],
          data.courses.map((c) =>
            el('tr', { 'data-course-id': c.course_id }, [
              el('td', {}, [link('#/course/' + encodeURIComponent(c.course_id), c.course_id)]),
              el('td', { class: 'n', text: c.sessions }),
              el('td', { class: 'n', text: c.present }),
              el('td', { class: 'n', text: c.late }),
              el('td', { class: 'n', text: c.absent }),
              el('td', { class: 'n', text: c.excused }),
              el('td', { class: 'n', text: pct(c.attendance_pct) }),
            ]),
          ),
          { id: 'student-courses' },
        ),
      ]),
      el('section', {}, [
        el('h2', { text: 'Trend' }),
        el('figure', { id: 'student-trend' }, [
          R.charts.percentLine(trend, `Attendance of ${data.student.name} over time`),
          el('figcaption', {
            class: 'muted',
            text: 'Attendance so far after each session (present or late; excused not counted).',
          }),
        ]),
      ]),
      el('section', {}, [
        el('h2', { text: 'Sessions' }),
        table(
          ['Date', 'Course', 'Status', 'Marked', 'Source'],
          records
            .slice()
            .reverse()
            .map((r) =>
              el('tr', {}, [
                el('td', {}, [link(sessionHref(r.session_id), String(r.session_date).slice(0, 10))]),
                el('td', { text: r.course_id }),
                el('td', {}, [badge(r.status)]),
                el('td', { text: R.dateTime(r.marked_at) }),
                el('td', { text: r.source }),
              ]),
            ),
        ),
      ]),
    );
  };

  // ---- Courses -----------------------------------------------------------------------------------------
  R.views.courses = async (root) => {
    const data = await api('/api/v1/dashboard/today');
    root.append(
      el('section', {}, [
        el('h2', { text: R.user.role === 'admin' ? 'Courses' : 'Your courses' }),
        data.courses.length
          ? el(
              'ul',
              { class: 'plain' },
              data.courses.map((c) =>
                el('li', {}, [
                  link('#/course/' + encodeURIComponent(c.course_id), `${c.course_id} ${c.name}`),
                  el('span', { class: 'muted', text: ` · ${c.enrolled} students` }),
                ]),
              ),
            )
          : el('p', { class: 'muted', text: 'You teach no courses.' }),
      ]),
    );
  };

  R.views.course = async (root, courseId) => {
    const q = '/api/v1/attendance/course/' + encodeURIComponent(courseId);
    const data = await api(q);
    const abbrev = { present: 'P', late: 'L', absent: 'A', excused: 'E' };
    // Per session: present or late over all marked but excused.
    const perSession = data.sessions.map((s) => {
      let att = 0;
      let n = 0;
      for (const st of data.students) {
        const v = st.statuses[s.session_id];
        if (v && v !== 'excused') n++;
        if (v === 'present' || v === 'late') att++;
      }
      return {
        label: String(s.session_date).slice(0, 10),
        value: n ? Math.round((1000 * att) / n) / 10 : null,
      };
    });
    const absences = el('div', { id: 'absences' });
    const minSelect = el(
      'select',
      { id: 'absence-min', onchange: () => void loadAbsences() },
      [2, 3, 5].map((n) => el('option', { value: n, text: String(n), selected: n === 3 })),
    );
    async function loadAbsences() {
      const r = await api(
        '/api/v1/reports/consecutive-absences?course_id=' +
          encodeURIComponent(courseId) +
          '&min=' +
          minSelect.value,
      );
      absences.replaceChildren(
        r.students.length
          ? table(
              ['Student', 'Absences in a row', 'Since', 'Last absent'],
              r.students.map((s) =>
                el('tr', {}, [
                  el('td', {}, [
                    link(
                      '#/student/' + encodeURIComponent(s.student_id),
                      `${s.student_name} (${s.student_id})`,
                    ),
                  ]),
                  el('td', { class: 'n', text: s.consecutive_absences }),
                  el('td', { text: s.since }),
                  el('td', { text: s.last_absent }),
                ]),
              ),
            )
          : el('p', {
              class: 'muted',
              text: `Nobody has missed ${minSelect.value} or more sessions in a row.`,
            }),
      );
    }
    root.append(
      el('p', {}, [link('#/courses', '← Courses')]),
      el('section', {}, [
        el('h2', { text: `${data.course.id} ${data.course.name}` }),
        el('figure', { id: 'course-chart' }, [
          R.charts.percentLine(perSession, `Attendance of ${data.course.id} per session`),
          el('figcaption', {
            class: 'muted',
            text: 'Share of marked students present or late, per session.',
          }),
        ]),
      ]),
      el('section', {}, [
        el('h2', { text: 'Grid' }),
        el('p', {}, [
          el('button', {
            type: 'button',
            id: 'download-csv',
            text: 'Download CSV',
            onclick: () =>
              void R.downloadCsv(q + '?format=csv', `course-${courseId}.csv`).catch((e) =>
                R.toast(e.message),
              ),
          }),
          ' ',
          el('button', {
            type: 'button',
            id: 'export-oneroster',
            text: 'Export last year (OneRoster zip)',
            title: 'Every session of this course in the last 366 days as OneRoster gradebook files',
            onclick: () => {
              const to = new Date().toISOString().slice(0, 10);
              const from = new Date(Date.now() - 365 * 86_400_000).toISOString().slice(0, 10);
              const path =
                '/api/v1/exports/attendance?format=oneroster&course_id=' +
                encodeURIComponent(courseId) +
                `&from=${from}&to=${to}`;
              void R.download(path, `attendance-${courseId}-${from}-${to}.zip`, 'application/zip').catch(
                (e) => R.toast(e.message),
              );
            },
          }),
          el('span', { class: 'muted', text: ' P present · L late · A absent · E excused' }),
        ]),
        table(
          ['Student', ...data.sessions.map((s) => String(s.session_date).slice(5, 10)), '%'],
          data.students.map((st) =>
            el('tr', {}, [
              el('th', { scope: 'row' }, [link('#/student/' + encodeURIComponent(st.student_id), st.name)]),
              ...data.sessions.map((s) => {
                const v = st.statuses[s.session_id];
                return el('td', {
                  class: v ? 'g s-' + v : 'g muted',
                  title: v || 'unmarked',
                  text: v ? abbrev[v] : '·',
                });
              }),
              el('td', { class: 'n', text: pct(st.attendance_pct) }),
            ]),
          ),
          { id: 'course-grid' },
          true,
        ),
      ]),
      el('section', {}, [
        el('h2', { text: 'Consecutive absences' }),
        el('p', {}, [
          el('label', { for: 'absence-min', text: 'At least ' }),
          minSelect,
          ' sessions in a row',
        ]),
        absences,
      ]),
    );
    await loadAbsences();
  };
})();
