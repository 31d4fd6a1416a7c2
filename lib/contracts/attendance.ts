/** POST /api/v1/attendance: the batch a device uploads and the per-record answer. */
import { z } from 'zod';
import { key } from './text';

const id = key();

export const recognitionRecordSchema = z.strictObject({
  event_id: key({ min: 8, max: 128 }).describe(
    'Idempotency key of this sighting, chosen by the device (a uuid); a resend answers duplicate',
  ),
  student_id: id.describe('The student one face track of the device settled on'),
  course_id: id.optional().describe('The course the device believed was running; checked by the server'),
  session_id: key()
    .optional()
    .describe('session:{scheduleId}:{date} the device believed was running; checked by the server'),
  timestamp: z.iso
    .datetime({ offset: true })
    .describe("When the device first saw the student in the track's deciding votes"),
  confidence: z
    .number()
    .finite()
    .min(0)
    .max(1)
    .describe('Mean cosine similarity of the votes that decided the track'),
});

export const attendanceBatchSchema = z.strictObject({
  device_id: id,
  records: z.array(recognitionRecordSchema).min(1).max(500),
});

export const recordOutcomeSchema = z.discriminatedUnion('status', [
  z.object({
    event_id: z.string(),
    status: z.enum(['accepted', 'duplicate']),
    session_id: z.string(),
  }),
  z.object({ event_id: z.string(), status: z.literal('rejected'), reason: z.string() }),
]);

/** The 202 body (and, with every record rejected, the 422 error's details). */
export const attendanceAnswerSchema = z.object({
  accepted: z.number().int().min(0),
  duplicates: z.number().int().min(0),
  rejected: z.number().int().min(0),
  results: z.array(recordOutcomeSchema).describe('One outcome per record, in the order of the batch'),
});

export type AttendanceBatch = z.infer<typeof attendanceBatchSchema>;
export type RecognitionRecord = z.infer<typeof recognitionRecordSchema>;
export type RecordOutcome = z.infer<typeof recordOutcomeSchema>;
export type AttendanceAnswer = z.infer<typeof attendanceAnswerSchema>;
