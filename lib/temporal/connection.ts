import fs from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import type { NativeConnectionOptions } from '@temporalio/worker';
import type { Config } from '../config';

/** Connection options for a local dev server, a self-hosted cluster (mTLS) or Temporal Cloud (API key). */
export function temporalConnectionOptions(
  cfg: Config,
  address: string,
): ConnectionOptions & NativeConnectionOptions {
  const tls =
    cfg.TEMPORAL_TLS_CERT_PATH && cfg.TEMPORAL_TLS_KEY_PATH
      ? {
          clientCertPair: {
            crt: fs.readFileSync(cfg.TEMPORAL_TLS_CERT_PATH),
            key: fs.readFileSync(cfg.TEMPORAL_TLS_KEY_PATH),
          },
        }
      : cfg.TEMPORAL_API_KEY
        ? true
        : undefined;
  return { address, tls, apiKey: cfg.TEMPORAL_API_KEY };
}

export async function connectClient(cfg: Config, address: string): Promise<Client> {
  const connection = await Connection.connect(temporalConnectionOptions(cfg, address));
  return new Client({ connection, namespace: cfg.TEMPORAL_NAMESPACE });
}

/** A client call that ran past its deadline; `code` is gRPC's DEADLINE_EXCEEDED, as the SDK would report. */
export class TemporalDeadlineError extends Error {
  override name = 'TemporalDeadlineError';
  readonly code = 4;
  constructor(ms: number) {
    super(`Temporal did not answer within ${ms} ms`);
  }
}

/**
 * Runs client calls with a hard time limit. The gRPC deadline alone does not bound the wait: the SDK's
 * retry interceptor sleeps up to 5 s between attempts without looking at it, so a call against a server that
 * is down could take deadline + backoff. The timer covers that; the deadline stops the call underneath.
 */
export async function withinDeadline<T>(client: Client, ms: number, fn: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TemporalDeadlineError(ms)), ms);
  });
  try {
    return await Promise.race([client.withDeadline(Date.now() + ms, fn), expired]);
  } finally {
    clearTimeout(timer);
  }
}
