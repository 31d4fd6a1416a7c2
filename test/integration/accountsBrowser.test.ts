/**
 * The accounts pages of the web app in a real browser (Debian's chromium via playwright-core) against the real
 * stack (API, worker, Temporal dev server, Postgres; ADMIN_MFA_REQUIRED on, the demo accounts exempt): an
 * admin invites a teacher from the users page and the one-time link, opened in another browser, sets the
 * password; an admin who is not a demo account must enrol TOTP at the first sign-in (secret and otpauth link as
 * text, a current code, recovery codes shown once behind "I saved them") and then signs in with password and
 * code; an admin disables the teacher and the teacher's open session ends; the account page changes a
 * password (the policy's refusal shown) and turns a teacher's TOTP on and off. axe-core finds no serious or
 * critical violation on any of these pages, none scrolls sideways at 375 px, and no script error or CSP
 * violation happens. The server judges codes by the real clock, so the test computes them with lib/totp.ts
 * right before each submit (the server accepts the current step ±1). Screenshots: test/support/browser.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import request from 'supertest';
import { base32Decode, totp, TOTP_STEP_SECONDS } from '../../lib/totp';
import { DEMO_PASSWORD, DEMO_USERS } from '../../migrations/seeds/demoSchool';
import {
  assertNoSideScroll,
  axe,
  freshPage,
  screenshot,
  signIn,
  startBrowserStack,
  type BrowserStack,
} from '../support/browser';

let stack: BrowserStack;
/** The demo admin's browser. */
let page: Page;
/** The invited teacher's browser (another context: its own sessionStorage), kept signed in for the last test. */
let teacher: { context: BrowserContext; page: Page } | undefined;
const contexts: BrowserContext[] = [];

const PHONE = { width: 375, height: 740 };
const NOOR = { email: 'noor.haddad@school.example', name: 'Noor Haddad' };
const HANA = { email: 'hana.head@school.example', name: 'Hana Head' };
const GOOD = 'violet staple orbit 42';

const STEP_MS = TOTP_STEP_SECONDS * 1000;
/** The code of the step `offsetSteps` from now, computed just before it is typed. */
const codeNow = (secret: string, offsetSteps = 0) =>
  totp(base32Decode(secret), Date.now() + offsetSteps * STEP_MS);
/** Six digits that are none of the codes the server could accept now (any step within ±2). */
function wrongCode(secret: string): string {
  const valid = new Set([-2, -1, 0, 1, 2].map((k) => codeNow(secret, k)));
  let n = 0;
  while (valid.has(String(n).padStart(6, '0'))) n++;
  return String(n).padStart(6, '0');
}

const userRow = (p: Page, email: string) => p.locator(`#users-body tr[data-email="${email}"]`);

/** The browser logs every 4xx answer as a failed resource; those the pages explain are expected. */
function unexpectedProblems(): string[] {
  return stack.problems.filter((p) => !/status of (401|409|422|429)/.test(p));
}

/** How many items the page keeps in sessionStorage (the session's JWT is the only one). */
function storedItems(p: Page): Promise<number> {
  return p.evaluate(
    () => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length,
  );
}

/** An attribute of the focused element. */
function focused(p: Page, attribute: string): Promise<string | null> {
  return p.evaluate((a) => {
    const g = globalThis as unknown as {
      document: { activeElement: { getAttribute(name: string): string | null } | null };
    };
    return g.document.activeElement?.getAttribute(a) ?? null;
  }, attribute);
}

async function signInWithPassword(p: Page, email: string, password: string): Promise<void> {
  await p.fill('#email', email);
  await p.fill('#password', password);
  await p.click('#sign-in');
}

void describe('accounts pages of the web app in a real browser (chromium + real Temporal + Postgres)', () => {
  before(
    async () => {
      stack = await startBrowserStack();
      page = stack.page;
      await page.goto(`${stack.base}/dashboard`);
      await signIn(page, DEMO_USERS.admin);
    },
    { timeout: 240_000 },
  );
  after(async () => {
    for (const c of contexts) await c.close().catch(() => undefined);
    await stack?.stop();
  });

  void test('when an admin invites a teacher from the users page, then the one-time link opened in another browser sets the password and the teacher signs in', async (t) => {
    const db = stack.rc.database.db;
    await page.click('#nav a[href="#/users"]');
    const me = userRow(page, DEMO_USERS.admin);
    await me.waitFor();
    assert.equal(await page.locator('#users-body tr').count(), 3, 'the three demo accounts');
    assert.deepEqual(
      [
        await me.locator('th').textContent(),
        await me.locator('td.role').textContent(),
        await me.locator('td .badge').textContent(),
        await me.locator('td.mfa').textContent(),
      ],
      ['Avery Admin (you)', 'admin', 'active', 'off'],
    );
    assert.notEqual(await me.locator('td').nth(4).textContent(), 'never', 'last sign-in shown');
    assert.equal(await userRow(page, DEMO_USERS.teacher2).locator('td').nth(4).textContent(), 'never');
    await axe(page, t, 'users');

    await page.fill('#invite-email', NOOR.email);
    await page.fill('#invite-name', NOOR.name);
    await page.selectOption('#invite-role', 'teacher');
    await page.click('#invite-send');
    const linkText = (await page.locator('#one-time-link').textContent()) ?? '';
    const match = new RegExp(`^${stack.base}/dashboard#/accept\\?token=([A-Za-z0-9_-]{43})$`).exec(linkText);
    assert.ok(match, `an invitation link to the accept page: ${linkText}`);
    await userRow(page, NOOR.email).waitFor();
    assert.equal(await userRow(page, NOOR.email).locator('td .badge').textContent(), 'invited');
    await screenshot(page, t, 'accounts-users-invite-link.png');

    // The same address again: the API's 409, at the form; the link stays on the page.
    await page.fill('#invite-email', NOOR.email.toUpperCase());
    await page.fill('#invite-name', 'Someone Else');
    await page.click('#invite-send');
    await page.locator('#invite-error', { hasText: /./ }).waitFor();
    assert.match((await page.textContent('#invite-error')) ?? '', /A user with this e-mail address exists\./);

    // Another person, another computer, a phone: the link opens the page that sets the password.
    teacher = await freshPage(stack, PHONE);
    contexts.push(teacher.context);
    const tp = teacher.page;
    await tp.goto(linkText);
    await tp.locator('#accept-form').waitFor();
    assert.equal(new URL(tp.url()).hash, '#/accept', 'the token leaves the address bar once read');
    assert.equal(await tp.locator('#login').isVisible(), false);
    await axe(tp, t, 'accept invitation (375 px)');
    await assertNoSideScroll(tp, t, 'accept invitation (375 px)');
    await screenshot(tp, t, 'accounts-accept-375.png');

    // The password policy's refusal is shown; the token is not spent by it.
    await tp.fill('#accept-password', 'noor.haddad says hello');
    await tp.fill('#accept-again', 'noor.haddad says hello');
    await tp.click('#accept-save');
    await tp.locator('#accept-error', { hasText: /./ }).waitFor();
    assert.match(
      (await tp.textContent('#accept-error')) ?? '',
      /The password must not be or contain your e-mail address or name/,
    );
    await tp.fill('#accept-password', GOOD);
    await tp.fill('#accept-again', GOOD + ' ');
    await tp.click('#accept-save');
    await tp.locator('#accept-error', { hasText: 'differ' }).waitFor();
    await tp.fill('#accept-again', GOOD);
    await tp.click('#accept-save');
    await tp.locator('#accept-done').waitFor();
    assert.match((await tp.textContent('#accept-done')) ?? '', new RegExp(`Sign in as ${NOOR.email}`));
    await screenshot(tp, t, 'accounts-accept-done-375.png');

    await tp.click('#accept-sign-in');
    assert.equal(await tp.inputValue('#email'), NOOR.email, 'the address is filled in');
    await tp.fill('#password', GOOD);
    await tp.click('#sign-in');
    await tp.waitForSelector('#app:not([hidden])');
    assert.match((await tp.textContent('#who')) ?? '', /Noor Haddad \(teacher\)/);
    assert.equal(new URL(tp.url()).hash, '#/today');

    const noor = await db('users').where({ email: NOOR.email }).first();
    const audit = await db('audit_log')
      .where({ entity: 'user', entity_id: noor.id })
      .orderBy('id')
      .pluck('action');
    assert.deepEqual(audit, ['user.invite', 'auth.invite_accepted', 'auth.login']);
    // Used once: the same link now says so.
    const again = await freshPage(stack, PHONE);
    contexts.push(again.context);
    await again.page.goto(linkText);
    await again.page.fill('#accept-password', 'amber ferry lantern 77');
    await again.page.fill('#accept-again', 'amber ferry lantern 77');
    await again.page.click('#accept-save');
    await again.page.locator('#accept-error', { hasText: /./ }).waitFor();
    assert.match((await again.page.textContent('#accept-error')) ?? '', /invalid, used or expired/);
  });

  void test('when an admin who is not a demo account signs in, then TOTP must be enrolled first, the recovery codes are shown once, and the next sign-in asks for a code', async (t) => {
    const db = stack.rc.database.db;
    // The head admin is invited through the API (the page's invite is proven above) and sets a password.
    const adminToken = (
      await request(stack.rc.app)
        .post('/api/v1/auth/login')
        .send({ email: DEMO_USERS.admin, password: DEMO_PASSWORD })
    ).body.token as string;
    const invited = await request(stack.rc.app)
      .post('/api/v1/admin/users')
      .set('Authorization', `Bearer ${adminToken}`)
      .send({ ...HANA, role: 'admin' });
    assert.equal(invited.status, 201, JSON.stringify(invited.body));
    const set = await request(stack.rc.app)
      .post('/api/v1/auth/password/set')
      .send({ token: invited.body.invite.token, password: GOOD });
    assert.equal(set.status, 200, JSON.stringify(set.body));

    const { context, page: hp } = await freshPage(stack, PHONE);
    contexts.push(context);
    await hp.goto(`${stack.base}/dashboard`);
    await signInWithPassword(hp, HANA.email, GOOD);
    await hp.locator('#totp-secret').waitFor();
    assert.equal(await hp.locator('#app').isVisible(), false, 'nothing but the enrolment before it is done');
    const shown = (await hp.textContent('#totp-secret')) ?? '';
    assert.match(shown, /^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/, 'the secret in groups of four');
    const secret = shown.replace(/ /g, '');
    const uri = new URL((await hp.textContent('#totp-uri')) ?? '');
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.searchParams.get('secret'), secret);
    assert.equal(uri.searchParams.get('issuer'), 'Rollcall');
    // The same link as a QR code (qr.js; decoded byte for byte by zbar, versions 1–40, when it was written).
    const qr = hp.getByRole('img', { name: /QR code of the authenticator link/ });
    assert.equal(await qr.isVisible(), true);
    assert.match((await qr.locator('path').getAttribute('d')) ?? '', /^(M\d+ \d+h1v1h-1z)+$/);
    await axe(hp, t, 'TOTP enrolment at sign-in (375 px)');
    await assertNoSideScroll(hp, t, 'TOTP enrolment at sign-in (375 px)');
    await screenshot(hp, t, 'accounts-enrol-375.png');

    await hp.fill('#enrol-code', wrongCode(secret));
    await hp.click('#enrol-confirm');
    await hp.locator('#enrol-error', { hasText: /./ }).waitFor();
    assert.match((await hp.textContent('#enrol-error')) ?? '', /The code is wrong, expired or already used/);
    await hp.fill('#enrol-code', codeNow(secret));
    await hp.click('#enrol-confirm');
    await hp.locator('#recovery-codes').waitFor();
    const codes = await hp.locator('#recovery-codes li').allTextContents();
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[a-z2-7]{5}-[a-z2-7]{5}$/);
    assert.equal(await hp.locator('#codes-continue').isDisabled(), true, 'not before "I saved them"');
    await axe(hp, t, 'recovery codes (375 px)');
    await assertNoSideScroll(hp, t, 'recovery codes (375 px)');
    await screenshot(hp, t, 'accounts-recovery-codes-375.png');
    await hp.check('#codes-saved');
    await hp.click('#codes-continue');
    await hp.waitForSelector('#app:not([hidden])');
    assert.match((await hp.textContent('#who')) ?? '', /Hana Head \(admin\)/);
    const hana = await db('users').where({ email: HANA.email }).first();
    assert.ok(hana.totp_confirmed_at, 'TOTP is on');
    const [unused] = await db('user_recovery_codes')
      .where({ user_id: hana.id })
      .whereNull('used_at')
      .count<{ n: string }[]>('* as n');
    assert.equal(Number(unused!.n), 10);

    // The account page says so, and signs out.
    await hp.click('#nav a[href="#/account"]');
    await hp.locator('#mfa-state', { hasText: 'On' }).waitFor();
    assert.equal(await hp.textContent('#account-email'), HANA.email);
    await hp.click('#account-sign-out');
    await hp.locator('#login-form').waitFor();
    assert.equal(await storedItems(hp), 0, 'the token is gone');

    // Password, then a code: a wrong one, a malformed one, then the next step's (the enrolment spent this one).
    await signInWithPassword(hp, HANA.email, GOOD);
    await hp.locator('#mfa-code').waitFor();
    assert.equal(await focused(hp, 'id'), 'mfa-code', 'the code field has the focus');
    await axe(hp, t, 'code step (375 px)');
    await assertNoSideScroll(hp, t, 'code step (375 px)');
    await hp.fill('#mfa-code', wrongCode(secret));
    await hp.click('#mfa-submit');
    await hp.locator('#mfa-error', { hasText: /./ }).waitFor();
    assert.match((await hp.textContent('#mfa-error')) ?? '', /The code is wrong, expired or already used/);
    await screenshot(hp, t, 'accounts-code-step-375.png');
    await hp.fill('#mfa-code', '12 34');
    await hp.click('#mfa-submit');
    await hp.locator('#mfa-error', { hasText: 'recovery code like' }).waitFor();
    await hp.fill('#mfa-code', codeNow(secret, 1));
    await hp.click('#mfa-submit');
    await hp.waitForSelector('#app:not([hidden])');
    assert.match((await hp.textContent('#who')) ?? '', /Hana Head \(admin\)/);
    const logins = await db('audit_log')
      .where({ entity: 'user', entity_id: hana.id })
      .whereIn('action', ['auth.mfa_failed', 'auth.mfa_enrolled', 'auth.login'])
      .orderBy('id')
      .select('action', db.raw("after->>'factor' as factor"));
    assert.deepEqual(
      logins.map(
        (r: { action: string; factor: string | null }) => `${r.action}${r.factor ? `:${r.factor}` : ''}`,
      ),
      [
        'auth.login:password', // the enrolment-only sign-in
        'auth.mfa_failed',
        'auth.mfa_enrolled',
        'auth.login:totp',
        'auth.mfa_failed',
        'auth.login:totp',
      ],
    );

    // Wrong codes lock the account's code step (5 within 5 minutes, the enrolment's included): said so.
    await hp.click('#logout');
    await signInWithPassword(hp, HANA.email, GOOD);
    await hp.locator('#mfa-code').waitFor();
    for (let attempt = 0; attempt < 5; attempt++) {
      await hp.fill('#mfa-code', wrongCode(secret));
      await hp.click('#mfa-submit');
      await hp.locator('#mfa-error', { hasText: /./ }).waitFor();
      if (/locked/.test((await hp.textContent('#mfa-error')) ?? '')) break;
    }
    assert.match(
      (await hp.textContent('#mfa-error')) ?? '',
      /^Too many wrong attempts: this account is locked for now\. Try again in (about \d+ minutes|\d+ seconds)\.$/,
    );
    await axe(hp, t, 'code step, locked (375 px)');
    await screenshot(hp, t, 'accounts-code-step-locked-375.png');
    assert.deepEqual(unexpectedProblems(), [], 'no CSP violation or script error');
  });

  void test("when an admin disables the teacher, then the teacher's open session stops working, and the API's refusals are shown in the row", async (t) => {
    assert.ok(teacher, 'the invited teacher is signed in (first test)');
    await page.click('#nav a[href="#/today"]');
    await page.click('#nav a[href="#/users"]');
    const me = userRow(page, DEMO_USERS.admin);
    await me.waitFor();

    // Their own account: the API's 409 in the row, for the role and for disabling.
    await me.getByRole('button', { name: 'Make teacher: Avery Admin' }).click();
    await me.locator('.row-error', { hasText: /./ }).waitFor();
    assert.match(
      (await me.locator('.row-error').textContent()) ?? '',
      /You cannot change the role of your own account; ask another admin/,
    );
    await me.getByRole('button', { name: 'Disable Avery Admin' }).click();
    await page.locator('#reason-dialog[open]').waitFor();
    await page.fill('#reason', 'testing');
    await page.click('#reason-save');
    await me.locator('.row-error', { hasText: 'disable your own account' }).waitFor();
    await axe(page, t, 'users with a refusal in a row');
    await screenshot(page, t, 'accounts-users-own-account-409.png');

    // Role changes of another user land in the table.
    const noor = userRow(page, NOOR.email);
    await noor.getByRole('button', { name: `Make admin: ${NOOR.name}` }).click();
    await noor.locator('td.role', { hasText: 'admin' }).waitFor();
    assert.equal(await focused(page, 'data-action'), 'role', 'the focus stays on the row action');
    await noor.getByRole('button', { name: `Make teacher: ${NOOR.name}` }).click();
    await noor.locator('td.role', { hasText: 'teacher' }).waitFor();

    // Disabling, with a reason: her open session ends at her next request.
    const tp = teacher!.page;
    // The teacher is signed in (their page shows the app; waits for it rather than racing its render).
    await tp.locator('#app').waitFor({ state: 'visible', timeout: 15_000 });
    await noor.getByRole('button', { name: `Disable ${NOOR.name}` }).click();
    await page.locator('#reason-dialog[open]').waitFor();
    await page.fill('#reason', 'left the school');
    await page.click('#reason-save');
    await noor.locator('td .badge', { hasText: 'disabled' }).waitFor();
    await noor.getByRole('button', { name: `Enable ${NOOR.name}` }).waitFor();
    await screenshot(page, t, 'accounts-users-disabled.png');

    // Her next request signs her out: a click in the app, unless a request the page made by itself (its
    // periodic refresh) already has and the app has been replaced by the sign-in form.
    const courses = tp.locator('#nav a[href="#/courses"]');
    if (await courses.isVisible()) await courses.click({ timeout: 5_000 }).catch(() => undefined);
    await tp.locator('#login-form').waitFor();
    assert.match(
      (await tp.textContent('#login-error')) ?? '',
      /You were signed out: the account is disabled/,
    );
    assert.equal(await storedItems(tp), 0);
    await signInWithPassword(tp, NOOR.email, GOOD);
    await tp.locator('#login-error', { hasText: 'email or password is wrong' }).waitFor();

    // The users page at a phone's width: one card per user, no sideways scroll.
    await page.setViewportSize(PHONE);
    try {
      await page.click('#nav a[href="#/today"]');
      await page.click('#nav a[href="#/users"]');
      await userRow(page, NOOR.email).waitFor();
      await assertNoSideScroll(page, t, 'users (375 px)');
      await axe(page, t, 'users (375 px)');
      await screenshot(page, t, 'accounts-users-375.png');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    assert.deepEqual(unexpectedProblems(), [], 'no CSP violation or script error');
  });

  void test('when a teacher uses the account page, then a weak password is refused with the policy, a good one keeps the session, and TOTP turns on and off', async (t) => {
    const db = stack.rc.database.db;
    await signIn(page, DEMO_USERS.teacher2);
    await page.click('#nav a[href="#/account"]');
    await page.locator('#mfa-state', { hasText: 'Off' }).waitFor();
    assert.equal(await page.textContent('#account-email'), DEMO_USERS.teacher2);
    assert.equal(await page.locator('#nav a[href="#/users"]').isVisible(), false, 'admin-only link hidden');
    await axe(page, t, 'account');
    await screenshot(page, t, 'accounts-account.png');

    await page.fill('#current-password', 'not my password');
    await page.fill('#new-password', GOOD);
    await page.fill('#new-password-again', GOOD);
    await page.click('#password-save');
    await page.locator('#password-error', { hasText: /./ }).waitFor();
    assert.match((await page.textContent('#password-error')) ?? '', /The current password is wrong/);
    await page.fill('#current-password', DEMO_PASSWORD);
    await page.fill('#new-password', 'short');
    await page.fill('#new-password-again', 'short');
    await page.click('#password-save');
    await page.locator('#password-error', { hasText: 'at least 12 characters' }).waitFor();
    await axe(page, t, 'account with a policy error');
    await screenshot(page, t, 'accounts-account-policy-error.png');
    await page.fill('#new-password', GOOD);
    await page.fill('#new-password-again', GOOD);
    await page.click('#password-save');
    await page.locator('#toast', { hasText: 'Password changed' }).waitFor();
    assert.equal(await page.textContent('#password-error'), '');
    // The answer's token carries the session on (the older one was revoked).
    await page.click('#nav a[href="#/today"]');
    await page.locator('#view h2').first().waitFor();
    assert.equal(await page.locator('#app').isVisible(), true, 'still signed in');

    // TOTP on (optional for teachers), the recovery codes once, then off again with one of them.
    await page.click('#nav a[href="#/account"]');
    await page.click('#totp-enable');
    await page.locator('#totp-secret').waitFor();
    const secret = ((await page.textContent('#totp-secret')) ?? '').replace(/ /g, '');
    await page.fill('#enrol-code', codeNow(secret));
    await page.click('#enrol-confirm');
    await page.locator('#recovery-codes').waitFor();
    const codes = await page.locator('#recovery-codes li').allTextContents();
    await page.check('#codes-saved');
    await page.click('#codes-continue');
    await page.locator('#mfa-state', { hasText: 'On' }).waitFor();
    await axe(page, t, 'account with TOTP on');
    await page.setViewportSize(PHONE);
    try {
      await assertNoSideScroll(page, t, 'account (375 px)');
      await screenshot(page, t, 'accounts-account-375.png');
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
    await page.fill('#disable-code', '000');
    await page.click('#totp-disable');
    await page.locator('#mfa-disable-error', { hasText: 'recovery code like' }).waitFor();
    await page.fill('#disable-code', codes[0]!);
    await page.click('#totp-disable');
    await page.locator('#mfa-state', { hasText: 'Off' }).waitFor();
    assert.equal(await page.locator('#app').isVisible(), true, 'a teacher stays signed in');
    const row = await db('users').where({ email: DEMO_USERS.teacher2 }).first();
    assert.equal(row.totp_confirmed_at, null);
    assert.deepEqual(unexpectedProblems(), [], 'no CSP violation or script error');
  });
});
