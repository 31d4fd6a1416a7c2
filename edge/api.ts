/**
 * The device's HTTP client for the Rollcall API: device-key auth, a timeout on every call, errors that say
 * whether a retry can help and how long the server asked us to wait. Retrying is the caller's job
 * (withBackoff), so each method is a single attempt.
 */
import type { z } from 'zod';
import {
  attendanceAnswerSchema,
  heartbeatAnswerSchema,
  rosterAnswerSchema,
  scheduleAnswerSchema,
  type DeviceConfig,
  type HeartbeatBody,
  type RosterAnswer,
  type ScheduleAnswer,
} from '../lib/contracts';
import { parseRetryAfter } from './backoff';
import type { EdgeClock } from './clock';
import type { FetchLike } from './httpsWithCa';
import type { OutboxRecord, RecordOutcome } from './outbox';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    message: string,
    /** 0 when no HTTP answer arrived (network error, timeout). */
    readonly status: number,
    readonly retryAfterMs?: number,
    readonly body?: unknown,
  ) {
    super(message);
  }

  /** Network trouble, throttling and server-side failures heal; a malformed request does not. */
  get retryable(): boolean {
    const s = this.status;
    // 401/403: a key being rotated or a device being moved between rooms; marks wait rather than vanish.
    return s === 0 || s === 401 || s === 403 || s === 404 || s === 408 || s === 425 || s === 429 || s >= 500;
  }
}

export function isRetryableApiError(err: unknown): boolean {
  return !(err instanceof ApiError) || err.retryable;
}

export type RosterFetch =
  { status: 'not-modified' } | { status: 'ok'; etag: string | null; roster: RosterAnswer };

export type HeartbeatAnswer =
  { status: 'not-deployed' } | { status: 'ok'; config: DeviceConfig; configVersion: number };

export interface ApiClientOptions {
  baseUrl: string;
  deviceId: string;
  apiKey: string;
  timeoutMs: number;
  /** Fed with the server_time of every answer that carries one (schedule, heartbeat). */
  clock?: EdgeClock;
  /** The HTTP client: global fetch, or one that also trusts the school's CA (edge/httpsWithCa.ts). */
  fetch?: FetchLike;
}

export class ApiClient {
  constructor(private readonly opts: ApiClientOptions) {}

  get baseUrl(): string {
    return this.opts.baseUrl;
  }

  async schedule(roomId: string, signal?: AbortSignal): Promise<ScheduleAnswer> {
    const sent = this.opts.clock?.mark();
    const res = await this.call(
      'GET',
      `/api/v1/schedule?room_id=${encodeURIComponent(roomId)}`,
      undefined,
      {},
      signal,
    );
    const received = this.opts.clock?.mark();
    const answer = this.answer(res, await this.json(res, 'schedule'), 'schedule', scheduleAnswerSchema);
    this.observeServerTime(answer.server_time, sent, received);
    return answer;
  }

  async roster(sessionId: string, etag: string | null, signal?: AbortSignal): Promise<RosterFetch> {
    const headers: Record<string, string> = etag ? { 'If-None-Match': etag } : {};
    const res = await this.call(
      'GET',
      `/api/v1/roster/${encodeURIComponent(sessionId)}`,
      undefined,
      headers,
      signal,
    );
    if (res.status === 304) return { status: 'not-modified' };
    const roster = this.answer(res, await this.json(res, 'roster'), 'roster', rosterAnswerSchema);
    return { status: 'ok', etag: res.headers.get('etag'), roster };
  }

  /**
   * One attempt to upload a batch. 202 and 422 both carry per-record results (422: all rejected).
   * Throws ApiError otherwise (retryable or not).
   */
  async attendance(records: OutboxRecord[], signal?: AbortSignal): Promise<RecordOutcome[]> {
    const res = await this.call(
      'POST',
      '/api/v1/attendance',
      { device_id: this.opts.deviceId, records },
      {},
      signal,
    );
    const body = await safeJson(res);
    if (res.status === 202)
      return this.answer(res, body, 'attendance upload', attendanceAnswerSchema).results;
    if (res.status === 422) {
      const details = (body as { error?: { details?: unknown } } | undefined)?.error?.details;
      const parsed = attendanceAnswerSchema.safeParse(details);
      if (parsed.success) return parsed.data.results;
    }
    throw this.errorFor(res, 'attendance upload', body);
  }

  /** 404 means the server does not have the heartbeat endpoint yet: not an error for the device. */
  async heartbeat(body: HeartbeatBody, signal?: AbortSignal): Promise<HeartbeatAnswer> {
    const sent = this.opts.clock?.mark();
    const res = await this.call('POST', '/api/v1/heartbeat', body, {}, signal);
    const received = this.opts.clock?.mark();
    if (res.status === 404) {
      await safeJson(res);
      return { status: 'not-deployed' };
    }
    const answer = this.answer(res, await this.json(res, 'heartbeat'), 'heartbeat', heartbeatAnswerSchema);
    this.observeServerTime(answer.server_time, sent, received);
    return { status: 'ok', config: answer.config, configVersion: answer.configVersion };
  }

  /** The answer arrived when its headers did; reading the body is not part of the round trip. */
  private observeServerTime(
    serverTime: string | undefined,
    sent: number | undefined,
    received: number | undefined,
  ): void {
    if (serverTime !== undefined && sent !== undefined && received !== undefined)
      this.opts.clock?.observe(serverTime, sent, received);
  }

  private async call(
    method: string,
    route: string,
    body: unknown,
    headers: Record<string, string>,
    signal?: AbortSignal,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.opts.timeoutMs);
    try {
      return await (this.opts.fetch ?? fetch)(`${this.opts.baseUrl}${route}`, {
        method,
        headers: {
          Authorization: `Bearer ${this.opts.apiKey}`,
          Accept: 'application/json',
          ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (cause) {
      if (signal?.aborted) throw cause;
      const why = timeout.aborted ? `timed out after ${this.opts.timeoutMs} ms` : describe(cause);
      throw new ApiError(`${method} ${route}: ${why}`, 0);
    }
  }

  private async json(res: Response, what: string): Promise<unknown> {
    const body = await safeJson(res);
    if (!res.ok) throw this.errorFor(res, what, body);
    return body;
  }

  /**
   * The body checked against the contract. An answer that does not fit it is treated like a bad gateway
   * (retried later), never half-trusted: a malformed config or roster is not applied.
   */
  private answer<S extends z.ZodType>(res: Response, body: unknown, what: string, schema: S): z.infer<S> {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    const issue = parsed.error.issues[0];
    throw new ApiError(
      `${what}: HTTP ${res.status} answer does not match the contract (${issue?.path.join('.') || '(body)'}: ${issue?.message ?? 'invalid'})`,
      502,
      undefined,
      body,
    );
  }

  private errorFor(res: Response, what: string, body: unknown): ApiError {
    const msg = (body as { error?: { message?: string } } | undefined)?.error?.message ?? res.statusText;
    return new ApiError(
      `${what}: HTTP ${res.status} ${msg}`,
      res.status,
      parseRetryAfter(res.headers.get('retry-after')),
      body,
    );
  }
}

async function safeJson(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function describe(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  return e.cause?.code ?? e.cause?.message ?? e.message ?? String(err);
}
