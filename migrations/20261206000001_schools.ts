import type { Knex } from 'knex';

/**
 * Schools as tenants (README "Schools and tenancy").
 *
 * - `schools`; every school-owned row carries `school_id` (existing rows join the school `main`, which the
 *   migration creates; a district renames it or adds more).
 * - The API runs a signed-in school user's statements as the NOLOGIN role `rollcall_tenant` with
 *   `rollcall.school_id` set for the transaction (lib/tenancy.ts). Row-level security policies for that role
 *   show and accept only the school's rows, so a query that forgets the school — a bug — still sees one school.
 *   The owning role (workers, migrations, district admins) is not subject to the policies.
 * - `school_id` fills itself: from the transaction's school, else from the row's parent (a consent from its
 *   student, a mark from its session, …), else — in a deployment of one school — that school. A row whose
 *   parents belong to different schools (a school-A student in a school-B course) is refused as a foreign-key
 *   violation: from the row's school, the other school's row does not exist.
 * - The tenant role gets privileges on the parent tables only, never on attendance partitions, so the
 *   partitions cannot be read around the parent's policies; views run as the caller (security_invoker).
 */

/** Tables, the mode of their school, and the parents ([table, column]) it comes from and must agree with. */
type Mode = 'required' | 'preferred' | 'user';
export const SCHOOL_OWNED: Array<{ table: string; mode: Mode; parents: Array<[string, string]> }> = [
  { table: 'users', mode: 'user', parents: [] },
  { table: 'students', mode: 'required', parents: [] },
  { table: 'classrooms', mode: 'required', parents: [] },
  { table: 'courses', mode: 'required', parents: [['users', 'teacher_id']] },
  { table: 'consents', mode: 'required', parents: [['students', 'student_id']] },
  {
    table: 'enrollments',
    mode: 'required',
    parents: [
      ['students', 'student_id'],
      ['courses', 'course_id'],
    ],
  },
  {
    table: 'inactive_enrollments',
    mode: 'required',
    parents: [
      ['students', 'student_id'],
      ['courses', 'course_id'],
    ],
  },
  {
    table: 'schedules',
    mode: 'required',
    parents: [
      ['courses', 'course_id'],
      ['classrooms', 'room_id'],
    ],
  },
  { table: 'devices', mode: 'required', parents: [['classrooms', 'room_id']] },
  { table: 'face_embeddings', mode: 'required', parents: [['students', 'student_id']] },
  { table: 'class_sessions', mode: 'required', parents: [['schedules', 'schedule_id']] },
  { table: 'attendance_logs', mode: 'required', parents: [['class_sessions', 'session_id']] },
  { table: 'session_marks', mode: 'required', parents: [['class_sessions', 'session_id']] },
  { table: 'quarantined_marks', mode: 'preferred', parents: [['class_sessions', 'session_id']] },
  { table: 'recognition_events', mode: 'required', parents: [['devices', 'device_id']] },
  { table: 'audit_log', mode: 'preferred', parents: [['users', 'actor']] },
  { table: 'user_tokens', mode: 'preferred', parents: [['users', 'user_id']] },
  { table: 'user_recovery_codes', mode: 'preferred', parents: [['users', 'user_id']] },
  { table: 'roster_import_runs', mode: 'required', parents: [] },
  { table: 'roster_import_files', mode: 'required', parents: [['roster_import_runs', 'run_id']] },
  { table: 'roster_import_staging', mode: 'required', parents: [['roster_import_runs', 'run_id']] },
  { table: 'roster_import_changes', mode: 'required', parents: [['roster_import_runs', 'run_id']] },
];

export const TENANT_ROLE = 'rollcall_tenant';
const VIEWS = ['current_schedule', 'student_attendance_summary'];

export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE schools (
      id text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
      name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      sourced_id text UNIQUE,
      active boolean NOT NULL DEFAULT true,
      created_at timestamptz NOT NULL DEFAULT now()
    );
    INSERT INTO schools (id, name) VALUES ('main', 'Main school');

    -- The school of the current transaction (NULL outside a school's scope).
    CREATE FUNCTION rollcall_current_school() RETURNS text LANGUAGE sql STABLE AS $$
      SELECT nullif(current_setting('rollcall.school_id', true), '')
    $$;

    -- BEFORE INSERT/UPDATE: fills school_id (see the migration's comment) and checks that every parent named
    -- in TG_ARGV[1..] (pairs of table, column) is of the row's school. SECURITY DEFINER: the parents are read
    -- as the owner, so a parent of another school is found (and refused) rather than hidden by the policies.
    CREATE FUNCTION rollcall_assign_school() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = public, pg_temp AS $$
    DECLARE
      mode text := TG_ARGV[0];
      fields jsonb := to_jsonb(NEW);
      i integer := 1;
      ref text;
      parent_school text;
      schools_count integer;
    BEGIN
      WHILE i + 1 < TG_NARGS LOOP
        ref := fields ->> TG_ARGV[i + 1];
        IF ref IS NOT NULL THEN
          -- Static statements (plans cached per session) for the parents there are; dynamic SQL only as a fallback.
          CASE TG_ARGV[i]
            WHEN 'devices' THEN SELECT p.school_id INTO parent_school FROM devices p WHERE p.id = ref;
            WHEN 'class_sessions' THEN SELECT p.school_id INTO parent_school FROM class_sessions p WHERE p.id = ref;
            WHEN 'students' THEN SELECT p.school_id INTO parent_school FROM students p WHERE p.id = ref;
            WHEN 'courses' THEN SELECT p.school_id INTO parent_school FROM courses p WHERE p.id = ref;
            WHEN 'users' THEN SELECT p.school_id INTO parent_school FROM users p WHERE p.id = ref;
            WHEN 'classrooms' THEN SELECT p.school_id INTO parent_school FROM classrooms p WHERE p.id = ref;
            WHEN 'schedules' THEN SELECT p.school_id INTO parent_school FROM schedules p WHERE p.id = ref::integer;
            ELSE EXECUTE format('SELECT school_id FROM %I WHERE id = %L', TG_ARGV[i], ref) INTO parent_school;
          END CASE;
          IF parent_school IS NOT NULL THEN
            IF NEW.school_id IS NULL THEN
              NEW.school_id := parent_school;
            ELSIF NEW.school_id <> parent_school THEN
              RAISE EXCEPTION '%.% = % belongs to another school', TG_TABLE_NAME, TG_ARGV[i + 1], ref
                USING ERRCODE = 'foreign_key_violation', CONSTRAINT = TG_TABLE_NAME || '_same_school';
            END IF;
          END IF;
        END IF;
        i := i + 2;
      END LOOP;
      IF NEW.school_id IS NULL AND (mode <> 'user' OR fields ->> 'role' <> 'admin') THEN
        SELECT count(*) INTO schools_count FROM schools;
        IF schools_count = 1 THEN
          SELECT id INTO NEW.school_id FROM schools;
        ELSIF mode <> 'preferred' THEN
          RAISE EXCEPTION '% needs a school: there are % schools and the row names none', TG_TABLE_NAME, schools_count
            USING ERRCODE = 'not_null_violation', COLUMN = 'school_id';
        END IF;
      END IF;
      RETURN NEW;
    END $$;

    DO $$ BEGIN
      CREATE ROLE ${TENANT_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$;
    GRANT ${TENANT_ROLE} TO CURRENT_USER;
    GRANT SELECT ON schools TO ${TENANT_ROLE};
    ALTER TABLE schools ENABLE ROW LEVEL SECURITY;
    CREATE POLICY school_isolation ON schools TO ${TENANT_ROLE} USING (id = rollcall_current_school());
    GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO ${TENANT_ROLE};
  `);
  for (const { table, mode, parents } of SCHOOL_OWNED) {
    const nullable = mode !== 'required';
    // The fast default puts every existing row in `main` without rewriting the table.
    await knex.raw(`
      ALTER TABLE ${table} ADD COLUMN school_id text ${nullable ? '' : 'NOT NULL'} DEFAULT 'main' REFERENCES schools(id);
      ALTER TABLE ${table} ALTER COLUMN school_id SET DEFAULT rollcall_current_school();
      CREATE TRIGGER ${table}_school BEFORE INSERT ${parents.length > 0 ? `OR UPDATE OF ${parents.map(([, c]) => c).join(', ')}` : ''}
        ON ${table} FOR EACH ROW
        EXECUTE FUNCTION rollcall_assign_school('${mode}'${parents.map(([t, c]) => `, '${t}', '${c}'`).join('')});
      ALTER TABLE ${table} ENABLE ROW LEVEL SECURITY;
      CREATE POLICY school_isolation ON ${table} TO ${TENANT_ROLE}
        USING (school_id = rollcall_current_school()) WITH CHECK (school_id = rollcall_current_school());
      GRANT SELECT, INSERT, UPDATE, DELETE ON ${table} TO ${TENANT_ROLE};
    `);
  }
  await knex.raw(`
    ALTER TABLE users ADD CONSTRAINT users_school_unless_district_admin CHECK (role = 'admin' OR school_id IS NOT NULL);
    -- Audit rows of the district (no school) are kept; rows of sign-ins before this migration are the school's.
    ${VIEWS.map((v) => `ALTER VIEW ${v} SET (security_invoker = true); GRANT SELECT ON ${v} TO ${TENANT_ROLE};`).join('\n')}
  `);
}

export async function down(knex: Knex): Promise<void> {
  for (const v of VIEWS)
    await knex.raw(`REVOKE ALL ON ${v} FROM ${TENANT_ROLE}; ALTER VIEW ${v} RESET (security_invoker)`);
  await knex.raw('ALTER TABLE users DROP CONSTRAINT users_school_unless_district_admin');
  for (const { table } of [...SCHOOL_OWNED].reverse()) {
    await knex.raw(`
      REVOKE ALL ON ${table} FROM ${TENANT_ROLE};
      DROP POLICY school_isolation ON ${table};
      ALTER TABLE ${table} DISABLE ROW LEVEL SECURITY;
      DROP TRIGGER ${table}_school ON ${table};
      ALTER TABLE ${table} DROP COLUMN school_id;
    `);
  }
  await knex.raw(`
    REVOKE USAGE ON ALL SEQUENCES IN SCHEMA public FROM ${TENANT_ROLE};
    DROP TABLE schools;
    DROP FUNCTION rollcall_assign_school();
    DROP FUNCTION rollcall_current_school();
  `);
}
