/**
 * Schools as tenants on the real stack (Postgres + Temporal): row-level security holds a school's requests to
 * the school's rows even when a query names no school, rows take their school from their parents and cannot
 * mix schools, and district admins span schools or act inside one with X-School-Id.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import request from 'supertest';
import { hashPassword } from '../../lib/passwords';
import { enterSchool, requestScopedDb, runInSchool, TENANT_ROLE } from '../../lib/tenancy';
import { DEMO_PASSWORD, seedDemoSchool } from '../../migrations/seeds/demoSchool';
import { SCHOOL_OWNED } from '../../migrations/20261206000001_schools';
import { startTestRollcall, type TestRollcall } from '../support/app';
import { bearerFor } from '../support/auth';
import { assertErrorShape } from '../support/errors';
import { generateRosterBundle } from '../support/oneroster';
import { uploadRoster } from '../support/rosterImports';

let rc: TestRollcall;
let admin: string;
let district: string;
let northTeacher: string;

function refused(res: { status: number; body: { error?: { code?: string } } }, status: number, code: string) {
  assertErrorShape(res, status);
  assert.equal(res.body.error?.code, code);
}

const pgCode = async (p: Promise<unknown>): Promise<string | undefined> =>
  p.then(
    () => undefined,
    (err: { code?: string }) => err.code ?? 'no code',
  );

/** The distinct school ids of each school-owned table, read in a school's scope with no school in the query. */
async function schoolsSeenBy(school: string): Promise<Record<string, string[]>> {
  return rc.database.db.transaction(async (trx) => {
    await enterSchool(trx, school);
    const seen: Record<string, string[]> = {};
    for (const { table } of SCHOOL_OWNED) {
      const rows = await trx.raw<{ rows: { school_id: string | null }[] }>(
        `SELECT DISTINCT school_id FROM ${table}`,
      );
      seen[table] = rows.rows.map((r) => r.school_id ?? 'NULL');
    }
    return seen;
  });
}

void describe('schools as tenants (real Temporal + Postgres)', () => {
  before(async () => {
    rc = await startTestRollcall();
    await seedDemoSchool(rc.database.db);
    const db = rc.database.db;
    // A second school, written as the owner (as a district's import or CLI would).
    await db('schools').insert({ id: 'north', name: 'North school' });
    await db('users').insert([
      {
        id: 'u-north-teacher',
        email: 'teacher@north.school',
        name: 'Nia North',
        role: 'teacher',
        school_id: 'north',
        password_hash: await hashPassword(DEMO_PASSWORD),
      },
    ]);
    await db('classrooms').insert({ id: 'N100', name: 'North room', timezone: 'UTC', school_id: 'north' });
    await db('students').insert([
      { id: 'N001', name: 'Noor North', school_id: 'north' },
      { id: 'N002', name: 'Nils North', school_id: 'north' },
    ]);
    // No school named: each takes its parent's.
    await db('courses').insert({ id: 'NORTH1', name: 'North class', teacher_id: 'u-north-teacher' });
    await db('enrollments').insert([
      { student_id: 'N001', course_id: 'NORTH1' },
      { student_id: 'N002', course_id: 'NORTH1' },
    ]);
    await db('consents').insert({
      student_id: 'N001',
      kind: 'biometric_enrollment',
      granted_by: 'u-north-teacher',
    });
    await db('schedules').insert({
      course_id: 'NORTH1',
      room_id: 'N100',
      day_of_week: 1,
      start_time: '08:00',
      end_time: '09:00',
    });
    await db('devices').insert({ id: 'pi-n100', room_id: 'N100' });
    admin = await bearerFor(rc.app, 'admin');
    district = await bearerFor(rc.app, 'district');
    const login = await request(rc.app)
      .post('/api/v1/auth/login')
      .send({ email: 'teacher@north.school', password: DEMO_PASSWORD });
    assert.equal(login.status, 200, JSON.stringify(login.body));
    northTeacher = `Bearer ${login.body.token as string}`;
  });
  after(async () => {
    await rc?.stop();
  });

  void test('when a query under a school\u2019s role names no school, then it still sees only that school\u2019s rows', async () => {
    const db = rc.database.db;
    assert.deepEqual(
      await db('courses').where({ id: 'NORTH1' }).first('school_id'),
      { school_id: 'north' },
      'a course takes its teacher\u2019s school',
    );
    assert.equal((await db('devices').where({ id: 'pi-n100' }).first('school_id')).school_id, 'north');
    const main = await schoolsSeenBy('main');
    const north = await schoolsSeenBy('north');
    for (const { table } of SCHOOL_OWNED) {
      assert.ok(
        main[table]!.every((s) => s === 'main'),
        `${table} under main: ${main[table]!.join(',')}`,
      );
      assert.ok(
        north[table]!.every((s) => s === 'north'),
        `${table} under north: ${north[table]!.join(',')}`,
      );
    }
    for (const table of ['students', 'courses', 'classrooms', 'schedules', 'devices', 'enrollments', 'users'])
      assert.deepEqual(north[table], ['north'], `${table}: north sees its own rows`);
    assert.deepEqual(main.students, ['main']);
    const counts = await db.transaction(async (trx) => {
      await enterSchool(trx, 'main');
      return trx.raw<{ rows: { n: number }[] }>(
        `SELECT count(*)::int AS n FROM students WHERE id LIKE 'N%' OR name LIKE '%North%'`,
      );
    });
    assert.equal(
      counts.rows[0]!.n,
      0,
      'a deliberately unscoped query for north\u2019s students under main finds none',
    );
    // The handle routes hold, inside a school's scope: statements and transactions alike are the school's.
    const routeDb = requestScopedDb(db);
    const seen = await runInSchool(routeDb, 'north', async () => ({
      statement: await routeDb('students').orderBy('id').pluck('id'),
      transaction: await routeDb.transaction((trx) => trx('students').orderBy('id').pluck('id')),
      nested: await runInSchool(routeDb, 'main', () =>
        routeDb('classrooms').where({ id: 'N100' }).pluck('id'),
      ),
    }));
    assert.deepEqual(seen, { statement: ['N001', 'N002'], transaction: ['N001', 'N002'], nested: [] });
    assert.ok((await routeDb('students').pluck('id')).includes('S001'), 'outside a scope: the owner');
  });

  void test('when a school writes a row of another school or reads around the policies, then Postgres refuses', async () => {
    const db = rc.database.db;
    const asMain = <T>(fn: (trx: typeof db) => Promise<T>) =>
      db.transaction(async (trx) => {
        await enterSchool(trx, 'main');
        return fn(trx);
      });
    assert.equal(
      await pgCode(
        asMain((trx) => trx('students').insert({ id: 'X001', name: 'Forged', school_id: 'north' })),
      ),
      '42501',
      'row-level security refuses a row of another school',
    );
    assert.equal(
      await asMain((trx) => trx('students').where({ id: 'N001' }).update({ name: 'Renamed' })),
      0,
      'another school\u2019s rows cannot be updated',
    );
    assert.equal(await asMain((trx) => trx('students').where({ id: 'N001' }).delete()), 0);
    const partition = await db.raw<{ rows: { relname: string }[] }>(
      `SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'attendance_logs'::regclass LIMIT 1`,
    );
    assert.ok(partition.rows[0], 'an attendance partition exists');
    assert.equal(
      await pgCode(asMain((trx) => trx.raw(`SELECT count(*) FROM ${partition.rows[0]!.relname}`))),
      '42501',
      'a partition cannot be read around the parent\u2019s policies',
    );
    assert.equal(await pgCode(asMain((trx) => trx.raw('SELECT count(*) FROM backups'))), '42501');
    assert.equal((await db('students').where({ id: 'N001' }).first('name')).name, 'Noor North');
    // Even the owner cannot mix schools: the trigger refuses it as a missing reference.
    const mixed = await db('enrollments')
      .insert({ student_id: 'N001', course_id: 'CS101' })
      .then(
        () => undefined,
        (err: { code?: string; constraint?: string }) => err,
      );
    assert.equal(mixed?.code, '23503');
    assert.equal(mixed?.constraint, 'enrollments_same_school');
  });

  void test('when the catalogue is read, then every school-owned table has its policy and the tenant role reaches nothing else', async () => {
    const db = rc.database.db;
    const withSchool = await db.raw<{
      rows: { relname: string; relrowsecurity: boolean; policies: number }[];
    }>(`
      SELECT c.relname, c.relrowsecurity,
             (SELECT count(*)::int FROM pg_policy p WHERE p.polrelid = c.oid) AS policies
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'school_id' AND NOT a.attisdropped
       WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       ORDER BY 1`);
    assert.deepEqual(
      withSchool.rows.map((r) => r.relname),
      SCHOOL_OWNED.map((t) => t.table).sort(),
      'every table with a school_id is declared school-owned',
    );
    for (const r of withSchool.rows) assert.ok(r.relrowsecurity && r.policies === 1, `${r.relname} has RLS`);
    const reachable = await db.raw<{ rows: { relname: string }[] }>(
      `SELECT c.relname FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND (has_table_privilege(?, c.oid, 'SELECT') OR has_table_privilege(?, c.oid, 'INSERT'))
        ORDER BY 1`,
      [TENANT_ROLE, TENANT_ROLE],
    );
    assert.deepEqual(
      reachable.rows.map((r) => r.relname),
      [
        ...SCHOOL_OWNED.map((t) => t.table),
        'current_schedule',
        'schools',
        'student_attendance_summary',
      ].sort(),
    );
  });

  void test('when a school admin uses the API, then another school\u2019s people and rows do not exist for them', async () => {
    const list = await request(rc.app).get('/api/v1/admin/students').set('Authorization', admin);
    assert.equal(list.status, 200);
    const ids = (list.body.students as { id: string }[]).map((s) => s.id);
    assert.ok(ids.includes('S001') && !ids.some((id) => id.startsWith('N')), ids.join(','));
    assertErrorShape(
      await request(rc.app).get('/api/v1/admin/students/N001').set('Authorization', admin),
      404,
    );
    const enrol = await request(rc.app)
      .post('/api/v1/admin/enrollments')
      .set('Authorization', admin)
      .send({ student_id: 'N001', course_id: 'CS101' });
    assert.ok(enrol.status === 404 || enrol.status === 422, `${enrol.status} ${JSON.stringify(enrol.body)}`);
    assert.equal(
      (await rc.database.db('enrollments').where({ student_id: 'N001', course_id: 'CS101' })).length,
      0,
    );
    const users = await request(rc.app).get('/api/v1/admin/users').set('Authorization', admin);
    assert.equal(users.status, 200);
    const emails = (users.body.users as { email: string }[]).map((u) => u.email).sort();
    assert.deepEqual(emails, ['admin@demo.school', 'teacher1@demo.school', 'teacher2@demo.school']);
    refused(
      await request(rc.app)
        .get('/api/v1/admin/students')
        .set('Authorization', admin)
        .set('X-School-Id', 'north'),
      403,
      'other_school',
    );
    const created = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', admin)
      .send({ id: 'S900', name: 'Sam New' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(
      (await rc.database.db('students').where({ id: 'S900' }).first('school_id')).school_id,
      'main',
    );
  });

  void test('when a teacher of another school signs in, then the demo school\u2019s classes are not theirs to see', async () => {
    assert.equal(
      (await rc.database.db('audit_log').where({ actor: 'u-north-teacher' }).first('school_id'))?.school_id,
      'north',
      'the sign-in audit row belongs to the teacher\u2019s school',
    );
    const other = await request(rc.app)
      .get('/api/v1/attendance/course/CS101')
      .set('Authorization', northTeacher);
    assert.ok(other.status === 403 || other.status === 404, String(other.status));
    const own = await request(rc.app)
      .get('/api/v1/attendance/course/NORTH1')
      .set('Authorization', northTeacher);
    assert.equal(own.status, 200, JSON.stringify(own.body));
  });

  void test('when a district admin works, then they span schools, act inside one with X-School-Id, and must name one to create', async () => {
    const all = await request(rc.app).get('/api/v1/admin/students').set('Authorization', district);
    assert.equal(all.status, 200);
    const allIds = (all.body.students as { id: string }[]).map((s) => s.id);
    assert.ok(allIds.includes('S001') && allIds.includes('N001'));
    const north = await request(rc.app)
      .get('/api/v1/admin/students')
      .set('Authorization', district)
      .set('X-School-Id', 'north');
    assert.deepEqual((north.body.students as { id: string }[]).map((s) => s.id).sort(), ['N001', 'N002']);
    const me = await request(rc.app)
      .get('/api/v1/auth/me')
      .set('Authorization', district)
      .set('X-School-Id', 'north');
    assert.equal(
      me.status,
      200,
      'a district admin\u2019s own account is no school\u2019s: the header does not hide it',
    );
    assert.equal(me.body.user.schoolId, null);
    refused(
      await request(rc.app)
        .get('/api/v1/admin/students')
        .set('Authorization', district)
        .set('X-School-Id', 'nowhere'),
      404,
      'unknown_school',
    );
    refused(
      await request(rc.app)
        .post('/api/v1/admin/students')
        .set('Authorization', district)
        .send({ id: 'N003', name: 'Nobody Knows' }),
      422,
      'school_required',
    );
    assert.equal(await rc.database.db('students').where({ id: 'N003' }).first(), undefined);
    const made = await request(rc.app)
      .post('/api/v1/admin/students')
      .set('Authorization', district)
      .set('X-School-Id', 'north')
      .send({ id: 'N003', name: 'Nadia North' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(
      (await rc.database.db('students').where({ id: 'N003' }).first('school_id')).school_id,
      'north',
    );
  });
  void test('when schools are listed, added and renamed, then a school sees itself and only a district admin changes them', async () => {
    const ids = async (bearer: string) =>
      (
        (await request(rc.app).get('/api/v1/schools').set('Authorization', bearer)).body.schools as {
          id: string;
        }[]
      ).map((s) => s.id);
    const addSchool = (bearer: string, body: object, school?: string) => {
      const req = request(rc.app).post('/api/v1/admin/schools').set('Authorization', bearer);
      return (school ? req.set('X-School-Id', school) : req).send(body);
    };
    assert.deepEqual(await ids(admin), ['main']);
    assert.deepEqual(await ids(northTeacher), ['north']);
    refused(await addSchool(admin, { id: 'south', name: 'South' }), 403, 'district_only');
    refused(await addSchool(district, { id: 'south', name: 'South' }, 'north'), 403, 'district_only');
    const made = await addSchool(district, { id: 'south', name: 'South school' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    refused(await addSchool(district, { id: 'south', name: 'Again' }), 409, 'duplicate_id');
    refused(
      await addSchool(district, { id: "x'; DROP TABLE schools; --", name: 'Bad' }),
      400,
      'validation_failed',
    );
    assert.deepEqual(await ids(district), ['main', 'north', 'south']);
    const renamed = await request(rc.app)
      .put('/api/v1/admin/schools/south')
      .set('Authorization', district)
      .send({ name: 'South Academy' });
    assert.equal(renamed.body.school.name, 'South Academy');
    refused(
      await request(rc.app)
        .put('/api/v1/admin/schools/nope')
        .set('Authorization', district)
        .send({ name: 'X' }),
      404,
      'not_found',
    );
    const audit = await rc.database
      .db('audit_log')
      .where({ entity: 'school', entity_id: 'south' })
      .orderBy('id');
    assert.deepEqual(
      audit.map((a: { action: string; school_id: string }) => [a.action, a.school_id]),
      [
        ['create', 'south'],
        ['update', 'south'],
      ],
    );
  });

  void test('when two schools import their rosters, then each import sees, changes and deactivates only its own school', async () => {
    const bundle = generateRosterBundle({ now: new Date(), students: 12, classes: 3, teachers: 2 });
    // North's systems have their own ids (and e-mail addresses, which are unique across the district).
    const northBundle = new Map(
      [...bundle].map(([name, text]) => [
        name,
        text.replace(/\b(t|a|s|cls|enr)-(\d)/g, 'n$1-$2').replace(/office@/g, 'office-north@'),
      ]),
    );
    const upload = (bearer: string, files: Map<string, string>, school?: string) =>
      uploadRoster<{ status: string; summary: { totalChanges: number } }>(rc.app, files, { bearer, school });
    const db = rc.database.db;
    const imported = (school: string) =>
      db('students')
        .where({ school_id: school, source: 'oneroster', active: true })
        .count<{ n: number }[]>('* as n');
    const main1 = await upload(admin, bundle);
    assert.equal(main1.status, 'applied', JSON.stringify(main1));
    assert.equal((await imported('main'))[0]!.n, 12);
    const north1 = await upload(district, northBundle, 'north');
    assert.equal(north1.status, 'applied', JSON.stringify(north1));
    assert.equal((await imported('north'))[0]!.n, 12, 'north has its own 12 students');
    assert.equal(
      (await imported('main'))[0]!.n,
      12,
      'main\u2019s students were not deactivated by north\u2019s bundle',
    );
    assert.deepEqual(
      await db('users').where('email', 'like', 'nt-%').distinct().pluck('school_id'),
      ['north'],
      'north\u2019s teachers belong to north',
    );
    const main2 = await upload(admin, bundle);
    assert.equal(
      main2.summary.totalChanges,
      0,
      'main\u2019s second import sees only main\u2019s rows: nothing to change',
    );
  });
});
