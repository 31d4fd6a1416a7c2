/**
 * Real components for integration tests: a fresh database on the test Postgres server (migrated), and a
 * Temporal dev server on free ports. `npm test` provides ROLLCALL_TEST_ADMIN_URL and TEMPORAL_CLI_PATH.
 */
import crypto from 'node:crypto';
import type { Knex } from 'knex';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createDb, dropDatabase, ensureDatabase } from '../../lib/db';
import { migrateLatest } from '../../lib/migrate';
import { freePort } from '../../lib/process';
import { startDevServer } from '../../lib/temporal/devServer';
import { installWorkerRuntime } from '../../workers/worker';

function required(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run integration tests through \`npm test\``);
  return v;
}

export interface TestDatabase {
  db: Knex;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const admin = required('ROLLCALL_TEST_ADMIN_URL');
  const name = `rc_test_${crypto.randomBytes(5).toString('hex')}`;
  await ensureDatabase(admin, name);
  const url = new URL(admin);
  url.pathname = `/${name}`;
  const db = createDb(url.toString(), 10);
  await migrateLatest(db);
  return {
    db,
    url: url.toString(),
    drop: async () => {
      await db.destroy();
      await dropDatabase(admin, name);
    },
  };
}

export interface TestTemporal {
  address: string;
  client: Client;
  nativeConnection: NativeConnection;
  stop(): Promise<void>;
}

export async function startTestTemporal(): Promise<TestTemporal> {
  const server = await startDevServer({
    cliPath: required('TEMPORAL_CLI_PATH'),
    port: await freePort(),
    namespace: 'default',
  });
  installWorkerRuntime();
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  return {
    address: server.address,
    client: new Client({ connection, namespace: 'default' }),
    nativeConnection,
    stop: async () => {
      await connection.close();
      await nativeConnection.close();
      await server.stop();
    },
  };
}
