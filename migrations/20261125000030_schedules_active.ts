import type { Knex } from 'knex';

/** A timetable row can be paused (term break, room closed) without deleting it: its Temporal Schedule pauses. */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE schedules ADD COLUMN active boolean NOT NULL DEFAULT true`);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE schedules DROP COLUMN active`);
}
