/**
 * The one rule for every string a request carries (body, path and query alike), so that nothing the
 * database cannot hold — a NUL byte, an impossible date — gets past validation and each 400 names its field:
 *
 * - no control characters: C0 (U+0000–U+001F), DEL and C1 (U+007F–U+009F); no field here is multi-line;
 * - lengths counted in code points (as JSON Schema's maxLength and Postgres count), checked on the raw input;
 * - Unicode NFC, so the same name typed on two keyboards is one value in the database.
 *
 * Patterns are spelled with explicit ranges rather than `\p{Cc}`, so the OpenAPI document built from these
 * schemas means the same to any JSON-Schema engine (Python's `re`, which Schemathesis uses, has no `\p{}`).
 */
import { z } from 'zod';

export const NO_CONTROL_CHARACTERS = /^[^\u0000-\u001F\u007F-\u009F]*$/;

/** Ids of rows (students, courses, rooms, sessions, events): what every id in the database looks like. */
export const KEY_PATTERN = /^[A-Za-z0-9._:-]+$/;

/** Calendar dates a school's records can carry; anything else is a typo or a probe (`0000-01-01`). */
export const DATE_RANGE = { min: '2000-01-01', max: '2199-12-31' } as const;
const YEAR_IN_RANGE = /^2[01]\d\d-/;
const DATE_RANGE_MESSAGE = `must be a date between ${DATE_RANGE.min} and ${DATE_RANGE.max}`;
/** zod's YYYY-MM-DD of a real calendar day, unanchored, to embed in other patterns. */
const CALENDAR_DAY = z.regexes.date.source.replace(/^\^|\$$/g, '');

const LONE_SURROGATE = /\p{Cs}/u;

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function withLength(s: z.ZodString, min: number, max: number): z.ZodString {
  return s
    .refine((v) => codePoints(v) >= min, { message: `must be at least ${min} characters`, abort: true })
    .refine((v) => codePoints(v) <= max, { message: `must be at most ${max} characters`, abort: true })
    .meta({ ...(min > 0 ? { minLength: min } : {}), maxLength: max });
}

/**
 * Free text a person or device types (a reason, a version): single line, NFC, surrounding whitespace
 * removed. Not blank unless `allowEmpty`.
 */
export function text(max: number, opts: { allowEmpty?: boolean } = {}): z.ZodString {
  let s = z
    .string()
    .regex(NO_CONTROL_CHARACTERS, 'must not contain control characters')
    // A lone surrogate (JSON's "\ud800") would be stored as U+FFFD: refused rather than changed.
    .refine((v) => !LONE_SURROGATE.test(v), 'must be well-formed Unicode (no lone surrogate)');
  if (!opts.allowEmpty) s = s.regex(/\S/, 'must not be blank');
  return withLength(s, opts.allowEmpty ? 0 : 1, max)
    .normalize('NFC')
    .trim();
}

/**
 * An identifier: `pattern` (default KEY_PATTERN: letters, digits and . _ : -) over the whole raw value, so
 * an id is stored exactly as it was sent.
 */
export function key(
  opts: { min?: number; max?: number; pattern?: RegExp; message?: string } = {},
): z.ZodString {
  const { min = 1, max = 64, pattern = KEY_PATTERN, message = 'only letters, digits and . _ : -' } = opts;
  return withLength(z.string().regex(pattern, message), min, max);
}

/**
 * A whole number sent as text (a path or query parameter): `pattern` spells out the digits and the range
 * (no sign, space, exponent or hex, which `Number()` would take), so the document states it exactly.
 */
export function wholeNumber(pattern: RegExp, range: string) {
  return key({ max: 10, pattern, message: `must be a whole number ${range}` }).transform(Number);
}

/** YYYY-MM-DD, a real calendar day within DATE_RANGE. */
export function calendarDate() {
  return z.iso.date().regex(YEAR_IN_RANGE, DATE_RANGE_MESSAGE).meta({ format: 'date' });
}

/**
 * `{prefix}YYYY-MM-DD`: an id that ends in a calendar day within DATE_RANGE (a session id); `prefix` is a
 * pattern source.
 */
export function keyEndingInDate(prefix: string, message: string): z.ZodString {
  return key({ pattern: new RegExp(`^${prefix}${CALENDAR_DAY}$`), message }).regex(
    new RegExp(`^${prefix}2[01]\\d\\d-`),
    DATE_RANGE_MESSAGE,
  );
}

/**
 * The producer's side of `text()`: what a device may send of a string it did not choose (an error message
 * as a dead letter's reason): control characters and lone surrogates become spaces, NFC, trimmed, at most
 * `max` code points. The server still refuses anything `text()` refuses.
 */
export function toText(value: string, max: number): string {
  const cleaned = value
    .replace(/[\u0000-\u001F\u007F-\u009F]+/g, ' ')
    .replace(/\p{Cs}/gu, ' ')
    .normalize('NFC')
    .trim();
  return [...cleaned].slice(0, max).join('').trim();
}
