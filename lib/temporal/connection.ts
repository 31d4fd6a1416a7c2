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
