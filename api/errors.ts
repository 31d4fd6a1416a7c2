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

interface BodyParserError {
  type?: string;
  status?: number;
  limit?: number;
}

/** The one error middleware: domain errors keep their status; anything else is a 500 without internals. */
export function errorHandler(log: Logger): ErrorRequestHandler {
  return (err: unknown, req, res, _next) => {
    let e: AppError;
    const bp = err as BodyParserError;
    if (err instanceof AppError) e = err;
    else if (bp?.type === 'entity.too.large')
      e = new AppError(413, 'payload_too_large', `request body exceeds ${bp.limit} bytes`);
    else if (bp?.type === 'entity.parse.failed')
      e = new AppError(400, 'malformed_json', 'request body is not valid JSON');
    else if (bp?.type === 'encoding.unsupported' || bp?.type === 'charset.unsupported')
      e = new AppError(415, 'unsupported_encoding', 'unsupported body encoding');
    else if (typeof bp?.status === 'number' && bp.status >= 400 && bp.status < 500)
      e = new AppError(bp.status, 'bad_request', 'the request could not be read');
    else {
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
