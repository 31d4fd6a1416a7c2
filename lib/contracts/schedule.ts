/** GET /api/v1/schedule and GET /api/v1/roster/{sessionId}: what a device needs to recognise its class. */
import { z } from 'zod';
import { key, keyEndingInDate } from './text';

/** `session:{scheduleId}:{YYYY-MM-DD}`, as workflows/messages.ts writes (sessionWorkflowId) and reads it. */
export const sessionIdSchema = keyEndingInDate(
  'session:[0-9]{1,9}:',
  'not a session id (session:{scheduleId}:{YYYY-MM-DD})',
);

export const scheduleQuerySchema = z.strictObject({ room_id: key() });

export const sessionInfoSchema = z.object({
  session_id: z.string().describe('session:{scheduleId}:{YYYY-MM-DD}; the id of its roster'),
  schedule_id: z.number().int(),
  course_id: z.string(),
  course_name: z.string(),
  session_date: z.string().describe("YYYY-MM-DD in the room's time zone"),
  starts_at: z.iso.datetime({ offset: true }),
  ends_at: z.iso.datetime({ offset: true }),
  late_after_minutes: z.number().int().min(0),
  roster_version: z.number().int().min(0).describe("The course's roster version; changes when its faces do"),
});

export const scheduleAnswerSchema = z.object({
  room_id: z.string(),
  server_time: z.iso
    .datetime({ offset: true })
    .describe("The server's clock when it answered; the device measures its clock offset from it"),
  current: sessionInfoSchema
    .nullable()
    .describe('The class running now, with the early window and grace applied (null: none)'),
  next: sessionInfoSchema
    .nullable()
    .describe(
      'The next class in the coming week (null: none); the device fetches its roster ahead and switches to it when its early window opens',
    ),
  early_minutes: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'How long before a class starts the server counts sightings for it (SESSION_EARLY_MINUTES); absent from older servers: 15',
    ),
  grace_minutes: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'How long after a class ends the server still counts sightings for it (SESSION_GRACE_MINUTES); absent from older servers: 10',
    ),
});

export const rosterParamsSchema = z.strictObject({ sessionId: sessionIdSchema });

export const rosterAnswerSchema = z.object({
  sessionId: z.string(),
  courseId: z.string(),
  roomId: z.string(),
  modelId: z.string().describe('The embedder the faces were enrolled with; the device must run the same one'),
  dimension: z.number().int().min(1),
  encoding: z
    .literal('base64-float32le')
    .describe('Each embedding is base64 of `dimension` float32 little-endian values, L2-normalised'),
  rosterVersion: z.number().int().min(0),
  students: z.array(z.object({ studentId: z.string(), embeddings: z.array(z.string()) })),
  studentsWithoutFaces: z
    .number()
    .int()
    .min(0)
    .describe('Enrolled students with no usable face yet (not enrolled, consent revoked)'),
});

export type SessionInfo = z.infer<typeof sessionInfoSchema>;
export type ScheduleAnswer = z.infer<typeof scheduleAnswerSchema>;
export type RosterAnswer = z.infer<typeof rosterAnswerSchema>;
