import type { Knex } from 'knex';

/**
 * Enrollment: a roster version per course, so devices can cheaply tell whether the faces they cached are
 * still the class's faces. The enrollment activity bumps it explicitly; triggers bump it too whenever the
 * set of students or of stored embeddings changes by any other path (a student deleted, consent revoked,
 * an enrollment added by admin CRUD), so a device never keeps a face it should have dropped.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE courses ADD COLUMN roster_version bigint NOT NULL DEFAULT 1;

    CREATE FUNCTION bump_roster_version_for_enrollments() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE courses SET roster_version = roster_version + 1
       WHERE id IN (SELECT course_id FROM changed_enrollments);
      RETURN NULL;
    END $$;

    CREATE FUNCTION bump_roster_version_for_embeddings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      UPDATE courses SET roster_version = roster_version + 1
       WHERE id IN (SELECT e.course_id FROM enrollments e
                     WHERE e.student_id IN (SELECT student_id FROM changed_embeddings));
      RETURN NULL;
    END $$;

    -- Statement-level with transition tables: one bump per statement, not per row.
    CREATE TRIGGER enrollments_roster_insert AFTER INSERT ON enrollments
      REFERENCING NEW TABLE AS changed_enrollments
      FOR EACH STATEMENT EXECUTE FUNCTION bump_roster_version_for_enrollments();
    CREATE TRIGGER enrollments_roster_delete AFTER DELETE ON enrollments
      REFERENCING OLD TABLE AS changed_enrollments
      FOR EACH STATEMENT EXECUTE FUNCTION bump_roster_version_for_enrollments();
    CREATE TRIGGER face_embeddings_roster_delete AFTER DELETE ON face_embeddings
      REFERENCING OLD TABLE AS changed_embeddings
      FOR EACH STATEMENT EXECUTE FUNCTION bump_roster_version_for_embeddings();

    CREATE INDEX consents_active_idx ON consents (student_id, kind) WHERE revoked_at IS NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX consents_active_idx;
    DROP TRIGGER face_embeddings_roster_delete ON face_embeddings;
    DROP TRIGGER enrollments_roster_delete ON enrollments;
    DROP TRIGGER enrollments_roster_insert ON enrollments;
    DROP FUNCTION bump_roster_version_for_embeddings();
    DROP FUNCTION bump_roster_version_for_enrollments();
    ALTER TABLE courses DROP COLUMN roster_version;
  `);
}
