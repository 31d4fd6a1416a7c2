import type { ErrorRequestHandler, RequestHandler } from 'express';
import type { Logger } from 'pino';

/** A failure with a stable HTTP shape: `{ error: { code, message, details } }`. */
export class AppError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export const notFound: RequestHandler = (req, _res, next) =>
  next(new AppError(404, 'not_found', `no route for ${req.method} ${req.path}`));

/** Node socket errors of a dependency that is down or unreachable. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'EAI_AGAIN',
]);
/** Postgres: admin/crash shutdown, starting up or in recovery, too many connections; class 08 = connection exceptions. */
const PG_UNAVAILABLE = /^(57P0[123]|53300|08\d{3})$/;
/**
 * node-postgres and knex errors for a connection that died or never came: they carry no SQLSTATE, and
 * knex prefixes the failed statement to the message ("insert into … - Connection terminated
 * unexpectedly"), so the phrase is searched anywhere in the message.
 */
const PG_CONNECTION_LOST =
  /(Connection terminated|Connection ended unexpectedly|Client has encountered a connection error|Client was closed and is not queryable|timeout exceeded when trying to connect|Query read timeout)/;
/** gRPC UNAVAILABLE (14) and DEADLINE_EXCEEDED (4) from the Temporal client. */
const GRPC_UNAVAILABLE = new Set([4, 14]);

/**
 * True when `err` (or an error it wraps) says a dependency — Postgres, its pool, Temporal — is unavailable
 * rather than that the request is wrong: the client should retry later, so the answer is 503, not 500.
 */
export function isDependencyUnavailable(err: unknown, depth = 0): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof e.code === 'string' && (UNREACHABLE_CODES.has(e.code) || PG_UNAVAILABLE.test(e.code)))
    return true;
  if (typeof e.code === 'number' && GRPC_UNAVAILABLE.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.message === 'string' && PG_CONNECTION_LOST.test(e.message)) return true;
  // AggregateError (e.g. a connect that tried IPv4 and IPv6) and wrapped causes.
  if (Array.isArray(e.errors) && e.errors.some((x) => isDependencyUnavailable(x, depth + 1))) return true;
  return isDependencyUnavailable(e.cause, depth + 1);
}

/**
 * SQLSTATEs that mean the request carried a value Postgres cannot take — not a fault of the service:
 * 22P02 invalid text representation, 22021 character not in repertoire (a NUL byte), 22008 datetime field
 * overflow, 22007 invalid datetime format, 22003 numeric value out of range, 22001 string too long.
 */
const PG_INPUT_ERRORS = new Set(['22P02', '22021', '22008', '22007', '22003', '22001']);

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/**
 * The school triggers' refusals (migrations/20261206000001_schools.ts) as the client's mistake: a row that
 * needs a school where none is in scope (a district admin in a district of several schools), and a reference
 * to a row of another school (which, seen from the request's school, does not exist).
 */
function isSchoolError(err: unknown): AppError | undefined {
  const e = err as { code?: unknown; column?: unknown; constraint?: unknown };
  if (e?.code === '23502' && e.column === 'school_id')
    return new AppError(
      422,
      'school_required',
      'this district has several schools: name the one to act in with the X-School-Id header',
    );
  if (e?.code === '23503' && typeof e.constraint === 'string' && e.constraint.endsWith('_same_school'))
    return new AppError(
      422,
      'unknown_reference',
      'the request refers to a row that does not exist in this school',
    );
  return undefined;
}

/** The one error middleware: domain errors keep their status; anything else is a 500 without internals. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let e: AppError;
    const bp = err as BodyParserError;
    const schoolError = isSchoolError(err);
    if (err instanceof AppError) e = err;
    else if (bp?.type === 'entity.too.large')
      e = new AppError(413, 'payload_too_large', `request body exceeds ${bp.limit} bytes`);
    else if (bp?.type === 'entity.parse.failed')
      e = new AppError(400, 'malformed_json', 'request body is not valid JSON');
    else if (bp?.type === 'encoding.unsupported' || bp?.type === 'charset.unsupported')
      e = new AppError(415, 'unsupported_encoding', 'unsupported body encoding');
    else if (typeof bp?.status === 'number' && bp.status >= 400 && bp.status < 500)
      e = new AppError(bp.status, 'bad_request', 'the request could not be read');
    else if (schoolError) e = schoolError;
    else if (
      typeof (err as { code?: unknown })?.code === 'string' &&
      PG_INPUT_ERRORS.has((err as { code: string }).code)
    ) {
      // Validation should have caught it: log it as a gap to close, answer as the client's mistake.
      ((req as { log?: Logger }).log ?? log).warn({ err }, 'input rejected by Postgres, not by validation');
      e = new AppError(
        400,
        'invalid_value',
        'a value in the request cannot be stored (control characters, an impossible date or an out-of-range number)',
      );
    } else if (isDependencyUnavailable(err)) {
      // Transient by nature: the edge retries the same batch (same event ids) after Retry-After.
      ((req as { log?: Logger }).log ?? log).warn({ err }, 'dependency unavailable');
      e = new AppError(
        503,
        'dependency_unavailable',
        'a service the API depends on is unavailable; retry later',
        undefined,
        {
          'Retry-After': '5',
        },
      );
    } else {
      const reqLog = (req as { log?: Logger }).log ?? log;
      reqLog.error({ err }, 'unhandled error');
      e = new AppError(500, 'internal', 'internal error');
    }
    for (const [k, v] of Object.entries(e.headers)) res.setHeader(k, v);
    res
      .status(e.httpStatus)
      .json({ error: { code: e.code, message: e.message, details: e.details ?? null } });
  };
}
