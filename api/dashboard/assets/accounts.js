// Accounts: the second sign-in step (a TOTP or recovery code through POST /api/v1/auth/login/mfa; an admin
// who must use MFA and has none enrols an authenticator first with the short-lived enrolment token, then sees
// the recovery codes once), the invitation / reset page (#/accept?token=…, the link the users page and
// `npm run users` hand out: the token stays in the hash, which never reaches a server or its logs), the
// signed-in user's account (#/account: password, TOTP on/off, sign out) and the users admin (#/users).
'use strict';
(function () {
  const R = window.Rollcall;
  const { el, api } = R;
  const PASSWORD_HINT =
    'At least 12 characters; a few unrelated words are easy to remember and hard to guess.';
  const ONE_TIME_TOKEN = /^[A-Za-z0-9_-]{43}$/;
  let acceptToken = null;

  /** An API message as a sentence. */
  function sentence(s) {
    const t = String(s || '').trim();
    if (!t) return '';
    return t[0].toUpperCase() + t.slice(1) + (/[.!?]$/.test(t) ? '' : '.');
  }

  /** What to tell the person about a failed call; 429s say how long to wait (the MFA lockout is per account). */
  function explain(err) {
    if (err.status === 429) {
      const s = err.details && err.details.retryAfterSeconds;
      const wait = !s ? 'a few minutes' : s >= 90 ? `about ${Math.ceil(s / 60)} minutes` : `${s} seconds`;
      return /account/.test(err.message)
        ? `Too many wrong attempts: this account is locked for now. Try again in ${wait}.`
        : `Too many attempts from this computer. Try again in ${wait}.`;
    }
    return sentence(err.message);
  }

  const errorBox = (id) => el('div', { id, class: 'error', role: 'alert' });

  /** A labelled input (with a hint it is described by) in a `.field`. */
  function field(id, label, attrs, hint) {
    const input = el(
      'input',
      Object.assign({ id, name: id, 'aria-describedby': hint ? id + '-hint' : undefined }, attrs),
    );
    return el('div', { class: 'field' }, [
      el('label', { for: id, text: label }),
      input,
      hint ? el('p', { id: id + '-hint', class: 'muted hint', text: hint }) : null,
    ]);
  }

  /** A code typed with spaces or in capitals, as the API takes it; null when it is neither kind. */
  function normaliseCode(value) {
    const s = value.replace(/\s+/g, '');
    if (/^\d{6}$/.test(s)) return s;
    if (/^[A-Za-z2-7]{5}-?[A-Za-z2-7]{5}$/.test(s)) return s.toLowerCase();
    return null;
  }

  function copyButton(label, text) {
    return el('button', {
      type: 'button',
      text: label,
      onclick: () =>
        void (navigator.clipboard ? navigator.clipboard.writeText(text) : Promise.reject(new Error('no')))
          .then(() => R.toast('Copied.'))
          .catch(() => R.toast('Copy it by hand: the browser refused the clipboard.')),
    });
  }

  // ── Enrolling an authenticator and the recovery codes ──────────────────────────────────────────────

  /**
   * Starts TOTP enrolment with `bearer` (an enrolment token; undefined: the session's) and shows the
   * otpauth:// link as a QR code (qr.js) and as text, and the secret grouped in fours for typing, then asks
   * for a current code. `onDone` gets the
   * confirmation ({token, user, recoveryCodes}); `onExpired` runs when the enrolment token is no longer good.
   */
  async function enrolTotp(box, bearer, onDone, onExpired) {
    const setup = await api('/api/v1/auth/mfa/totp', { method: 'POST', bearer });
    const error = errorBox('enrol-error');
    const submit = el('button', { type: 'submit', id: 'enrol-confirm', class: 'primary', text: 'Turn on' });
    const form = el('form', { id: 'enrol-form', class: 'stack-form' }, [
      field(
        'enrol-code',
        'Code from the app',
        {
          required: true,
          inputmode: 'numeric',
          autocomplete: 'one-time-code',
          pattern: '[0-9]{6}',
          maxlength: 6,
        },
        '6 digits; a new one every 30 seconds.',
      ),
      el('div', { class: 'actions' }, [submit]),
      error,
    ]);
    box.replaceChildren(
      el('ol', { class: 'steps' }, [
        el('li', {}, [
          'Open an authenticator app on your phone (for example FreeOTP, Aegis, Google or Microsoft ' +
            'Authenticator) and scan this code:',
          el('figure', {}, [
            R.qr.svg(setup.otpauthUri, 'QR code of the authenticator link (also given as text below)'),
          ]),
        ]),
        el('li', {}, [
          'Or add the account by typing this key:',
          el('p', {}, [
            el('code', {
              id: 'totp-secret',
              class: 'secret',
              text: setup.secret.replace(/(.{4})(?=.)/g, '$1 '),
            }),
            ' ',
            copyButton('Copy key', setup.secret),
          ]),
        ]),
        el('li', {}, [
          'Or, with an app or password manager that takes links, paste this one:',
          el('p', {}, [
            el('code', { id: 'totp-uri', class: 'uri', text: setup.otpauthUri }),
            ' ',
            copyButton('Copy link', setup.otpauthUri),
          ]),
        ]),
        el('li', { text: 'Type the code the app now shows for Rollcall.' }),
      ]),
      form,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const input = R.$('enrol-code');
      const code = input.value.replace(/\s+/g, '');
      if (!/^\d{6}$/.test(code)) {
        error.textContent = 'Enter the 6 digits the app shows.';
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const done = await api('/api/v1/auth/mfa/totp/confirm', {
          method: 'POST',
          bearer,
          body: JSON.stringify({ code }),
        });
        onDone(done);
      } catch (err) {
        if (err.status === 401 && bearer) return onExpired();
        error.textContent = explain(err);
        input.select();
      } finally {
        submit.disabled = false;
      }
    });
  }

  /** The recovery codes, shown this once; `onSaved` runs when the person says they kept them. */
  function showRecoveryCodes(box, codes, onSaved) {
    const saved = el('input', { type: 'checkbox', id: 'codes-saved' });
    const next = el('button', {
      type: 'button',
      id: 'codes-continue',
      class: 'primary',
      text: 'Continue',
      disabled: true,
      onclick: onSaved,
    });
    saved.addEventListener('change', () => {
      next.disabled = !saved.checked;
    });
    box.replaceChildren(
      el('h2', { id: 'step-title', text: 'Your recovery codes' }),
      el('p', {
        class: 'key-once',
        text:
          'Two-step sign-in is on. If you lose your phone, each of these codes works once instead of a ' +
          'code from the app. They are shown only now: print them or keep them in a password manager.',
      }),
      el(
        'ol',
        { id: 'recovery-codes', class: 'codes' },
        codes.map((c) => el('li', {}, [el('code', { text: c })])),
      ),
      el('p', {}, [copyButton('Copy the codes', codes.join('\n'))]),
      el('div', { class: 'check' }, [saved, el('label', { for: 'codes-saved', text: 'I saved them' })]),
      el('div', { class: 'actions' }, [next]),
    );
    R.$('step-title').setAttribute('tabindex', '-1');
    R.$('step-title').focus();
  }

  // ── The second sign-in step ────────────────────────────────────────────────────────────────────────

  /** Called by app.js when the password was right and the API asks for more (`mfa: totp` or `enrol`). */
  R.secondStep = (answer) => {
    const box = R.$('login-step');
    const back = (message) => {
      box.hidden = true;
      box.replaceChildren();
      R.$('login').hidden = false;
      R.$('login-error').textContent = message || '';
      R.$('password').focus();
    };
    R.$('login').hidden = true;
    box.hidden = false;
    if (answer.mfa === 'totp') codeStep(box, answer.challengeToken, back);
    else if (answer.mfa === 'enrol') void enrolStep(box, answer, back);
    else back('The server asked for a sign-in step this page does not know; reload it.');
  };

  function codeStep(box, challengeToken, back) {
    const error = errorBox('mfa-error');
    const submit = el('button', { type: 'submit', id: 'mfa-submit', class: 'primary', text: 'Verify' });
    const form = el('form', { id: 'mfa-form', class: 'stack-form narrow', autocomplete: 'off' }, [
      field(
        'mfa-code',
        'Code',
        {
          required: true,
          autocomplete: 'one-time-code',
          maxlength: 11,
          spellcheck: 'false',
          autocapitalize: 'off',
        },
        'The 6 digits your authenticator app shows, or one of your recovery codes (like abcde-fghij).',
      ),
      el('div', { class: 'actions' }, [
        submit,
        el('button', { type: 'button', id: 'mfa-cancel', text: 'Cancel', onclick: () => back() }),
      ]),
      error,
    ]);
    box.replaceChildren(el('h2', { id: 'step-title', text: 'Two-step sign-in' }), form);
    const input = R.$('mfa-code');
    input.focus();
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const code = normaliseCode(input.value);
      if (!code) {
        error.textContent = 'Enter the 6 digits from your app, or a recovery code like abcde-fghij.';
        input.focus();
        return;
      }
      submit.disabled = true;
      try {
        const session = await api('/api/v1/auth/login/mfa', {
          method: 'POST',
          body: JSON.stringify({ challengeToken, code }),
        });
        await R.signedIn(session.token);
      } catch (err) {
        if (err.code === 'invalid_challenge') return back(sentence(err.message));
        error.textContent = explain(err);
        input.select();
      } finally {
        submit.disabled = false;
      }
    });
  }

  async function enrolStep(box, answer, back) {
    const body = el('div', { id: 'enrol' });
    box.replaceChildren(
      el('h2', { id: 'step-title', text: 'Set up two-step sign-in' }),
      el('p', {
        text:
          `${answer.user.name}, admins sign in with a password and a code from an authenticator app. ` +
          'Set it up now; you are signed in once it works.',
      }),
      body,
    );
    const expired = () => back('The set-up took too long and expired; sign in again.');
    try {
      await enrolTotp(
        body,
        answer.enrolToken,
        (done) => showRecoveryCodes(box, done.recoveryCodes, () => void R.signedIn(done.token)),
        expired,
      );
      R.$('enrol-code').focus();
    } catch (err) {
      if (err.status === 401) return expired();
      body.replaceChildren(el('p', { class: 'error', role: 'alert', text: explain(err) }));
    }
  }

  // ── Invitation and password reset links ────────────────────────────────────────────────────────────

  R.publicViews.accept = async (root, _arg, params) => {
    // Read once, then out of the address bar and the history: the link is single use.
    acceptToken = params.get('token') || acceptToken;
    if (params.has('token')) history.replaceState(null, '', location.pathname + '#/accept');
    const heading = el('h2', { text: 'Set your password' });
    if (!acceptToken || !ONE_TIME_TOKEN.test(acceptToken)) {
      root.append(
        el('section', {}, [
          heading,
          el('p', {
            class: 'error',
            role: 'alert',
            text: 'This link is incomplete. Copy the whole link you were given, or ask an admin for a new one.',
          }),
        ]),
      );
      return;
    }
    const error = errorBox('accept-error');
    const submit = el('button', {
      type: 'submit',
      id: 'accept-save',
      class: 'primary',
      text: 'Set password',
    });
    const form = el('form', { id: 'accept-form', class: 'stack-form narrow' }, [
      field(
        'accept-password',
        'New password',
        { type: 'password', required: true, maxlength: 1024, autocomplete: 'new-password' },
        PASSWORD_HINT,
      ),
      field('accept-again', 'New password again', {
        type: 'password',
        required: true,
        autocomplete: 'new-password',
      }),
      el('div', { class: 'actions' }, [submit]),
      error,
    ]);
    const section = el('section', { id: 'accept' }, [
      heading,
      el('p', { text: 'You were invited to Rollcall, or asked for a new password. Choose it here.' }),
      form,
    ]);
    root.append(section);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const password = R.$('accept-password').value;
      if (password !== R.$('accept-again').value) {
        error.textContent = 'The two passwords differ.';
        R.$('accept-again').focus();
        return;
      }
      submit.disabled = true;
      try {
        const done = await api('/api/v1/auth/password/set', {
          method: 'POST',
          body: JSON.stringify({ token: acceptToken, password }),
        });
        acceptToken = null;
        const signInNow = el('button', {
          type: 'button',
          id: 'accept-sign-in',
          class: 'primary',
          text: 'Sign in',
          onclick: () => {
            R.$('email').value = done.user.email;
            location.hash = '#/today';
          },
        });
        section.replaceChildren(
          el('h2', { text: 'Password set' }),
          el('p', {
            id: 'accept-done',
            role: 'status',
            text: `Your password is set. Sign in as ${done.user.email}.`,
          }),
          signInNow,
        );
        signInNow.focus();
      } catch (err) {
        error.textContent = explain(err);
        if (err.code === 'weak_password') R.$('accept-password').select();
      } finally {
        submit.disabled = false;
      }
    });
  };

  // ── The signed-in user's account ───────────────────────────────────────────────────────────────────

  R.views.account = async (root) => {
    const me = (await api('/api/v1/auth/me')).user;
    const pwError = errorBox('password-error');
    const pwSave = el('button', { type: 'submit', id: 'password-save', class: 'primary', text: 'Change' });
    const pwForm = el('form', { id: 'password-form', class: 'stack-form narrow' }, [
      field('current-password', 'Current password', {
        type: 'password',
        required: true,
        autocomplete: 'current-password',
      }),
      field(
        'new-password',
        'New password',
        { type: 'password', required: true, maxlength: 1024, autocomplete: 'new-password' },
        PASSWORD_HINT,
      ),
      field('new-password-again', 'New password again', {
        type: 'password',
        required: true,
        autocomplete: 'new-password',
      }),
      el('div', { class: 'actions' }, [pwSave]),
      pwError,
    ]);
    pwForm.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      pwError.textContent = '';
      if (R.$('new-password').value !== R.$('new-password-again').value) {
        pwError.textContent = 'The two new passwords differ.';
        R.$('new-password-again').focus();
        return;
      }
      pwSave.disabled = true;
      try {
        const session = await api('/api/v1/auth/password', {
          method: 'POST',
          body: JSON.stringify({
            currentPassword: R.$('current-password').value,
            newPassword: R.$('new-password').value,
          }),
        });
        // Every older token was revoked; this answer carries the session on.
        R.setToken(session.token);
        pwForm.reset();
        R.toast('Password changed. Your other sessions were signed out.');
      } catch (err) {
        pwError.textContent = explain(err);
        R.$(err.code === 'wrong_password' ? 'current-password' : 'new-password').select();
      } finally {
        pwSave.disabled = false;
      }
    });

    const mfaBox = el('div', { id: 'mfa-box' });
    root.append(
      el('section', {}, [
        el('h2', { text: 'Your account' }),
        el('dl', { class: 'facts' }, [
          el('dt', { text: 'Name' }),
          el('dd', { id: 'account-name', text: me.name }),
          el('dt', { text: 'E-mail' }),
          el('dd', { id: 'account-email', text: me.email }),
          el('dt', { text: 'Role' }),
          el('dd', { id: 'account-role', text: me.role }),
        ]),
        el('button', {
          type: 'button',
          id: 'account-sign-out',
          text: 'Sign out',
          onclick: () => R.signOut(),
        }),
      ]),
      el('section', {}, [el('h2', { text: 'Change password' }), pwForm]),
      el('section', { 'aria-labelledby': 'mfa-title' }, [
        el('h2', { id: 'mfa-title', text: 'Two-step sign-in' }),
        mfaBox,
      ]),
    );
    if (me.mfa) mfaOn(mfaBox, me);
    else mfaOff(mfaBox, me);
  };

  function mfaOff(box, me) {
    const error = errorBox('mfa-setup-error');
    box.replaceChildren(
      el('p', { id: 'mfa-state' }, [
        el('span', { class: 'badge', text: 'Off' }),
        ' With it on, signing in also asks for a code from an authenticator app on your phone.' +
          (me.role === 'admin' ? ' Admins are required to use it.' : ''),
      ]),
      el('button', {
        type: 'button',
        id: 'totp-enable',
        class: 'primary',
        text: 'Set up two-step sign-in',
        onclick: async () => {
          error.textContent = '';
          const steps = el('div', { id: 'enrol' });
          try {
            await enrolTotp(
              steps,
              undefined,
              (done) => {
                R.setToken(done.token);
                showRecoveryCodes(box, done.recoveryCodes, () => void R.reload());
              },
              () => R.signOut('Your session ended; sign in again.'),
            );
            box.replaceChildren(steps);
            R.$('enrol-code').focus();
          } catch (err) {
            error.textContent = explain(err);
          }
        },
      }),
      error,
    );
  }

  function mfaOn(box, me) {
    const error = errorBox('mfa-disable-error');
    const submit = el('button', { type: 'submit', id: 'totp-disable', text: 'Turn off' });
    const form = el('form', { id: 'mfa-disable-form', class: 'stack-form narrow' }, [
      field(
        'disable-code',
        'Code',
        { required: true, autocomplete: 'one-time-code', maxlength: 11, spellcheck: 'false' },
        'To turn it off: the 6 digits your app shows, or a recovery code.' +
          (me.role === 'admin'
            ? ' Admins who must use it are signed out and set up a new authenticator at the next sign-in.'
            : ''),
      ),
      el('div', { class: 'actions' }, [submit]),
      error,
    ]);
    box.replaceChildren(
      el('p', { id: 'mfa-state' }, [
        el('span', { class: 'badge s-active', text: 'On' }),
        ' Signing in asks for a code from your authenticator app.',
      ]),
      form,
    );
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      error.textContent = '';
      const code = normaliseCode(R.$('disable-code').value);
      if (!code) {
        error.textContent = 'Enter the 6 digits from your app, or a recovery code like abcde-fghij.';
        R.$('disable-code').focus();
        return;
      }
      submit.disabled = true;
      try {
        await api('/api/v1/auth/mfa/totp/disable', { method: 'POST', body: JSON.stringify({ code }) });
      } catch (err) {
        error.textContent = explain(err);
        submit.disabled = false;
        return;
      }
      // An admin who must use MFA was signed out everywhere by turning it off: say why, not "expired".
      try {
        await api('/api/v1/auth/me', { bearer: R.token() });
      } catch (err) {
        if (err.status === 401)
          return R.signOut('Two-step sign-in is off. Admins must use it: sign in to set up a new one.');
      }
      R.toast('Two-step sign-in is off.');
      await R.reload();
    });
  }

  // ── Users (admins) ─────────────────────────────────────────────────────────────────────────────────

  R.views.users = async (root) => {
    if (R.user.role !== 'admin') {
      root.append(el('p', { class: 'error', text: 'Users are managed by admins.' }));
      return;
    }
    const body = el('tbody', { id: 'users-body' });
    const linkBox = el('div', { id: 'link-box' });
    const inviteError = errorBox('invite-error');
    const form = el('form', { id: 'invite-form', class: 'grid-form' }, [
      field('invite-email', 'E-mail', { type: 'email', required: true, maxlength: 254, autocomplete: 'off' }),
      field('invite-name', 'Name', { required: true, maxlength: 200, autocomplete: 'off' }),
      el('div', { class: 'field' }, [
        el('label', { for: 'invite-role', text: 'Role' }),
        el('select', { id: 'invite-role', name: 'invite-role' }, [
          el('option', { value: 'teacher', text: 'Teacher' }),
          el('option', { value: 'admin', text: 'Admin' }),
        ]),
      ]),
      el('div', { class: 'actions' }, [
        el('button', { type: 'submit', id: 'invite-send', class: 'primary', text: 'Invite' }),
      ]),
    ]);

    /** A one-time link, shown once on this page and never stored. */
    function showLink(what, who, issued) {
      const href = `${location.origin}${location.pathname}#/accept?token=${encodeURIComponent(issued.token)}`;
      linkBox.replaceChildren(
        el('div', { class: 'key-once', role: 'alert' }, [
          el('p', {}, [
            el('strong', { text: `${what} for ${who} — shown only now. ` }),
            `Pass it on privately; it works once, until ${R.dateTime(issued.expiresAt)}.`,
          ]),
          el('p', {}, [el('code', { id: 'one-time-link', text: href })]),
          el('div', { class: 'actions' }, [
            copyButton('Copy link', href),
            el('button', { type: 'button', text: 'Done, hide it', onclick: () => linkBox.replaceChildren() }),
          ]),
        ]),
      );
    }

    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      inviteError.textContent = '';
      const email = R.$('invite-email').value.trim();
      try {
        const r = await api('/api/v1/admin/users', {
          method: 'POST',
          body: JSON.stringify({
            email,
            name: R.$('invite-name').value.trim(),
            role: R.$('invite-role').value,
          }),
        });
        form.reset();
        showLink('Invitation link', r.user.email, r.invite);
        await load();
      } catch (err) {
        inviteError.textContent = explain(err);
      }
    });

    root.append(
      el('section', {}, [
        el('h2', { text: 'Users' }),
        el('div', { class: 'scroll', tabindex: 0, role: 'region', 'aria-label': 'Users' }, [
          R.cards(
            el('table', { id: 'users' }, [
              el('thead', {}, [
                el(
                  'tr',
                  {},
                  ['Name', 'E-mail', 'Role', 'Status', 'Two-step', 'Last sign-in', 'Actions'].map((h) =>
                    el('th', { scope: 'col', text: h }),
                  ),
                ),
              ]),
              body,
            ]),
          ),
        ]),
      ]),
      el('section', {}, [el('h2', { text: 'Invite a user' }), form, inviteError, linkBox]),
    );

    /**
     * Runs one row's action; a refusal (last admin, own account, …) is shown in the row itself. After a
     * change the table is reloaded and the focus returns to the same action of the same row.
     */
    async function act(u, action, run, done) {
      const rowError = R.$('user-error-' + u.id);
      rowError.textContent = '';
      try {
        const result = await run();
        if (result === null) return;
        await load();
        R.toast(done);
        const again = body.querySelector(`tr[data-user-id="${CSS.escape(u.id)}"] [data-action="${action}"]`);
        if (again) again.focus();
      } catch (err) {
        R.$('user-error-' + u.id).textContent = explain(err);
      }
    }
    const path = (u, what) => `/api/v1/admin/users/${encodeURIComponent(u.id)}/${what}`;

    function actions(u) {
      const other = u.role === 'admin' ? 'teacher' : 'admin';
      const who = u.name;
      const buttons = [
        el('button', {
          type: 'button',
          'data-action': 'role',
          text: `Make ${other}`,
          'aria-label': `Make ${other}: ${who}`,
          onclick: () =>
            act(
              u,
              'role',
              () => api(path(u, 'role'), { method: 'PUT', body: JSON.stringify({ role: other }) }),
              `${who} is now ${other === 'admin' ? 'an admin' : 'a teacher'}.`,
            ),
        }),
        u.status === 'disabled'
          ? el('button', {
              type: 'button',
              'data-action': 'status',
              text: 'Enable',
              'aria-label': `Enable ${who}`,
              onclick: () =>
                act(u, 'status', () => api(path(u, 'enable'), { method: 'POST' }), `${who} enabled.`),
            })
          : el('button', {
              type: 'button',
              'data-action': 'status',
              text: 'Disable',
              'aria-label': `Disable ${who}`,
              onclick: () =>
                act(
                  u,
                  'status',
                  async () => {
                    const reason = await R.askReason(
                      `Disable ${who}: they are signed out at once and cannot sign in until enabled again.`,
                    );
                    if (reason === null) return null;
                    return api(path(u, 'disable'), { method: 'POST', body: JSON.stringify({ reason }) });
                  },
                  `${who} disabled.`,
                ),
            }),
      ];
      if (u.status !== 'disabled')
        buttons.push(
          el('button', {
            type: 'button',
            'data-action': 'link',
            text: u.status === 'invited' ? 'New invite link' : 'Reset password',
            'aria-label': `${u.status === 'invited' ? 'New invite link for' : 'Reset password of'} ${who}`,
            onclick: async () => {
              R.$('user-error-' + u.id).textContent = '';
              try {
                const issued = await api(path(u, 'password-reset'), { method: 'POST' });
                showLink(
                  issued.purpose === 'invite' ? 'Invitation link' : 'Password reset link',
                  u.email,
                  issued,
                );
                R.$('one-time-link').scrollIntoView({ block: 'nearest' });
              } catch (err) {
                R.$('user-error-' + u.id).textContent = explain(err);
              }
            },
          }),
        );
      return [
        el('div', { class: 'actions' }, buttons),
        el('p', { id: 'user-error-' + u.id, class: 'error row-error', role: 'alert' }),
      ];
    }

    async function load() {
      const { users } = await api('/api/v1/admin/users');
      body.replaceChildren(
        ...users.map((u) =>
          el('tr', { 'data-user-id': u.id, 'data-email': u.email }, [
            el('th', { scope: 'row', text: u.id === R.user.id ? `${u.name} (you)` : u.name }),
            el('td', { text: u.email }),
            el('td', { class: 'role', text: u.role }),
            el('td', {}, [el('span', { class: 'badge s-' + u.status, text: u.status })]),
            el('td', { class: 'mfa', text: u.mfa ? 'on' : 'off' }),
            el('td', { text: u.lastLoginAt ? R.dateTime(u.lastLoginAt) : 'never' }),
            el('td', {}, actions(u)),
          ]),
        ),
      );
    }
    await load();
  };
})();
