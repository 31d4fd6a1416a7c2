import type { z } from 'zod';
import { AppError } from './errors';

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
