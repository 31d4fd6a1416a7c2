import type { Knex } from 'knex';

/**
 * Admin CRUD (api/admin/crud.ts and its entity routers): deactivation, never deletion.
 *
 * - classrooms gain `active` (students, users and courses got theirs with the OneRoster import).
 * - schedules gain `paused_with_course`: deactivating a course pauses its active timetable rows and marks them,
 *   so reactivating it resumes exactly those, not rows an admin had paused on purpose.
 * - inactive_enrollments: an enrollment that was deactivated (by itself, or because its student was) leaves
 *   `enrollments` — every reader takes a row there to mean "enrolled now", and the delete trigger bumps the
 *   course's roster version so devices drop the faces — and waits here with its origin (source, sourced_id)
 *   until reactivated. Enrolling the pair again by any path (admin, import) removes the waiting row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE classrooms ADD COLUMN active boolean NOT NULL DEFAULT true;
    ALTER TABLE schedules ADD COLUMN paused_with_course boolean NOT NULL DEFAULT false;

    CREATE TABLE inactive_enrollments (
      course_id text NOT NULL REFERENCES courses(id) ON DELETE CASCADE,
      student_id text NOT NULL REFERENCES students(id) ON DELETE CASCADE,
      enrolled_at timestamptz NOT NULL,
      source text,
      sourced_id text,
      reason text NOT NULL CHECK (reason IN ('enrollment_deactivated', 'student_deactivated')),
      deactivated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (course_id, student_id),
      CHECK ((source IS NULL) = (sourced_id IS NULL))
    );
    CREATE INDEX inactive_enrollments_student_idx ON inactive_enrollments (student_id);

    CREATE FUNCTION clear_inactive_enrollments() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      DELETE FROM inactive_enrollments i USING new_enrollments n
       WHERE i.course_id = n.course_id AND i.student_id = n.student_id;
      RETURN NULL;
    END $$;
    CREATE TRIGGER enrollments_clear_inactive AFTER INSERT ON enrollments
      REFERENCING NEW TABLE AS new_enrollments
      FOR EACH STATEMENT EXECUTE FUNCTION clear_inactive_enrollments();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER enrollments_clear_inactive ON enrollments;
    DROP FUNCTION clear_inactive_enrollments();
    DROP TABLE inactive_enrollments;
    ALTER TABLE schedules DROP COLUMN paused_with_course;
    ALTER TABLE classrooms DROP COLUMN active;
  `);
}
