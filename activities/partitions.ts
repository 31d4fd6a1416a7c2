/** Activity of ensurePartitions: the SQL function does the work (idempotent, race-safe). */
import type { Knex } from 'knex';

export interface EnsurePartitionsResult {
  from: string;
  monthsAhead: number;
  /** Partitions this call created (empty when all existed). */
  created: string[];
  /** Every attendance partition after the call, oldest first. */
  partitions: string[];
}

export function createPartitionActivities(db: Knex) {
  return {
    async ensureAttendancePartitions(input: {
      from: string;
      monthsAhead: number;
    }): Promise<EnsurePartitionsResult> {
      const created = await db.raw<{ rows: { name: string }[] }>(
        'SELECT ensure_attendance_partitions(?::timestamptz, ?) AS name',
        [input.from, input.monthsAhead],
      );
      const all = await db.raw<{ rows: { name: string }[] }>(
        `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'attendance_logs'::regclass ORDER BY 1`,
      );
      return {
        from: input.from,
        monthsAhead: input.monthsAhead,
        created: created.rows.map((r) => r.name),
        partitions: all.rows.map((r) => r.name),
      };
    },
  };
}

export type PartitionActivities = ReturnType<typeof createPartitionActivities>;
