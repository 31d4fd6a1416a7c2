import type { z } from 'zod';
import { key } from '../lib/contracts/text';
import { STUDENT_ID_PATTERN } from '../lib/enrollment';
import { DEVICE_ID_PATTERN } from '../workflows/deviceMessages';
import { AppError } from './errors';

/** Student and device ids, wherever a route takes one (path, query or body). */
export const studentIdSchema = key({ pattern: STUDENT_ID_PATTERN, message: 'not a student id' });
export const deviceIdSchema = key({
  max: 63,
  pattern: DEVICE_ID_PATTERN,
  message: 'lowercase letters, digits and -, up to 63 characters',
});

/** Parses input against a schema, or throws a 400 whose message names the first bad field. */
export function parseOr400<S extends z.ZodType>(
  schema: S,
  input: unknown,
  where: 'body' | 'query' | 'params',
): z.infer<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => ({ field: [where, ...i.path].join('.'), message: i.message }));
  const first = issues[0];
  throw new AppError(400, 'validation_failed', `${first.field}: ${first.message}`, {
    issues: issues.slice(0, 20),
  });
}
