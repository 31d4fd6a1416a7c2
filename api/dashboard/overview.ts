/**
 * GET /api/v1/dashboard/overview: what the dashboard shows — today's sessions per room with their counts,
 * device health from the devices table, and links into the Temporal Web UI. Admins see the whole school;
 * a teacher sees their own courses' sessions and the devices of the rooms those courses use.
 */
import type { Router } from 'express';
import { featureRouter } from '../router';
import type { Knex } from 'knex';
import { z } from 'zod';
import { currentUser, requireUser, type AuthenticatedUser } from '../auth/user';

/** A session's counts per status, and its enrolled students with no mark yet. */
export function sessionCounts(r: {
  enrolled: number;
  present: number;
  late: number;
  absent: number;
  excused: number;
}): { present: number; late: number; absent: number; excused: number; unmarked: number } {
  const marked = r.present + r.late + r.absent + r.excused;
  return {
    present: r.present,
    late: r.late,
    absent: r.absent,
    excused: r.excused,
    unmarked: Math.max(0, r.enrolled - marked),
  };
}

export const overviewResponse = z.object({
  generated_at: z.string(),
  temporal_ui: z.string(),
  rooms: z.array(
    z.object({
      room_id: z.string(),
      room_name: z.string(),
      sessions: z.array(
        z.object({
          session_id: z.string(),
          course_id: z.string(),
          course_name: z.string(),
          session_date: z.string(),
          starts_at: z.string(),
          ends_at: z.string(),
          status: z.string(),
          enrolled: z.number(),
          counts: z.object({
            present: z.number(),
            late: z.number(),
            absent: z.number(),
            excused: z.number(),
            unmarked: z.number(),
          }),
          workflow_url: z.string(),
        }),
      ),
    }),
  ),
  devices: z.array(
    z.object({
      id: z.string(),
      room_id: z.string(),
      status: z.string(),
      last_seen: z.string().nullable(),
      workflow_url: z.string(),
    }),
  ),
});

export interface DashboardSettings {
  temporalUiUrl: string;
  namespace: string;
}

export function workflowUrl(s: DashboardSettings, workflowId: string): string {
  return `${s.temporalUiUrl.replace(/\/$/, '')}/namespaces/${encodeURIComponent(s.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

interface SessionRow {
  session_id: string;
  course_id: string;
  course_name: string;
  room_id: string;
  room_name: string;
  session_date: string;
  starts_at: Date;
  ends_at: Date;
  status: string;
  enrolled: number;
  present: number;
  late: number;
  absent: number;
  excused: number;
}

async function overview(
  db: Knex,
  s: DashboardSettings,
  user: AuthenticatedUser,
): Promise<z.infer<typeof overviewResponse>> {
  const teacher = user.role === 'teacher' ? user.id : null;
  const sessions = await db.raw<{ rows: SessionRow[] }>(
    `SELECT cs.id AS session_id, cs.course_id, c.name AS course_name, cs.room_id, r.name AS room_name,
            cs.session_date::text AS session_date, cs.starts_at, cs.ends_at, cs.status,
            (SELECT count(*) FROM enrollments e WHERE e.course_id = cs.course_id)::int AS enrolled,
            count(a.*) FILTER (WHERE a.status = 'present')::int AS present,
            count(a.*) FILTER (WHERE a.status = 'late')::int AS late,
            count(a.*) FILTER (WHERE a.status = 'absent')::int AS absent,
            count(a.*) FILTER (WHERE a.status = 'excused')::int AS excused
       FROM class_sessions cs
       JOIN classrooms r ON r.id = cs.room_id
       JOIN courses c ON c.id = cs.course_id
       LEFT JOIN attendance_logs a ON a.session_id = cs.id
      WHERE cs.session_date = (now() AT TIME ZONE r.timezone)::date
        AND (?::text IS NULL OR c.teacher_id = ?::text)
      GROUP BY cs.id, c.name, r.name
      ORDER BY cs.room_id, cs.starts_at`,
    [teacher, teacher],
  );
  const devices: { id: string; room_id: string; status: string; last_seen: Date | null }[] = await db(
    'devices',
  )
    .modify((qb) => {
      if (teacher)
        qb.whereIn(
          'room_id',
          db('schedules as sc')
            .join('courses as c', 'c.id', 'sc.course_id')
            .where('c.teacher_id', teacher)
            .select('sc.room_id'),
        );
    })
    .orderBy('id')
    .select('id', 'room_id', 'status', 'last_seen');
  const rooms = new Map<string, z.infer<typeof overviewResponse>['rooms'][number]>();
  for (const r of sessions.rows) {
    const room = rooms.get(r.room_id) ?? { room_id: r.room_id, room_name: r.room_name, sessions: [] };
    rooms.set(r.room_id, room);
    room.sessions.push({
      session_id: r.session_id,
      course_id: r.course_id,
      course_name: r.course_name,
      session_date: r.session_date,
      starts_at: new Date(r.starts_at).toISOString(),
      ends_at: new Date(r.ends_at).toISOString(),
      status: r.status,
      enrolled: r.enrolled,
      counts: sessionCounts(r),
      workflow_url: workflowUrl(s, r.session_id),
    });
  }
  return {
    generated_at: new Date().toISOString(),
    temporal_ui: s.temporalUiUrl,
    rooms: [...rooms.values()],
    devices: devices.map((d) => ({
      id: d.id,
      room_id: d.room_id,
      status: d.status,
      last_seen: d.last_seen ? new Date(d.last_seen).toISOString() : null,
      workflow_url: workflowUrl(s, `device:${d.id}`),
    })),
  };
}

export function dashboardApiRoutes(deps: { db: Knex; settings: DashboardSettings }): Router {
  const router = featureRouter();
  router.get('/api/v1/dashboard/overview', requireUser(['admin', 'teacher']), async (req, res) => {
    res.json(await overview(deps.db, deps.settings, currentUser(req)));
  });
  return router;
}
