import { z } from 'zod';

const id = z
  .string()
  .trim()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9._:-]+$/, 'only letters, digits and . _ : -');

export const recognitionRecordSchema = z.strictObject({
  event_id: z
    .string()
    .min(8)
    .max(128)
    .regex(/^[A-Za-z0-9._:-]+$/, 'only letters, digits and . _ : -'),
  student_id: id,
  course_id: id.optional(),
  session_id: z.string().max(64).optional(),
  timestamp: z.iso.datetime({ offset: true }),
  confidence: z.number().finite().min(0).max(1),
});

export const attendanceBatchSchema = z.strictObject({
  device_id: id,
  records: z.array(recognitionRecordSchema).min(1).max(500),
});

export type AttendanceBatch = z.infer<typeof attendanceBatchSchema>;
export type RecognitionRecord = z.infer<typeof recognitionRecordSchema>;

export type RecordOutcome =
  | { event_id: string; status: 'accepted' | 'duplicate'; session_id: string }
  | { event_id: string; status: 'rejected'; reason: string };
