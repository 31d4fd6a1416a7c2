/**
 * A production-shaped Rollcall on this machine, for benchmarks: the Temporal server (`go.temporal.io/server`
 * cmd/server, its schemas applied by temporal-sql-tool, both built from the Go module proxy and cached) on
 * Postgres persistence and visibility, and the API, the inbox relay and the worker as separate processes
 * (api/main.ts, workers/relayMain.ts, workers/main.ts with RELAY_IN_WORKER=false).
 *
 * The server version is the one the cached CLI embeds (its modules are then already in the Go module cache).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { dropDatabase } from '../../lib/db';
import { goInstallCached } from '../../lib/temporal/cli';
import { searchAttributeFlags } from '../../lib/temporal/searchAttributes';
import { freePort, runChecked, waitForPort } from '../../lib/process';
import { repoRoot } from '../../lib/paths';
import { BACKGROUND, type LocalPostgres } from '../../lib/postgres';

export const TEMPORAL_SERVER_VERSION = 'v1.29.1';

export interface ClusterStackOptions {
  pg: LocalPostgres;
  /** Where Temporal's databases go (its own server, as a production deployment has); default `pg`. */
  temporalPg?: LocalPostgres;
  /**
   * Process roles (`temporal`, `worker`, `relay`, `api`) run in the background (lib/postgres BACKGROUND), as
   * CPU requests and cgroup `cpu.idle` rank pods in a cluster: a benchmark on one machine gives the path
   * that answers devices its CPU first.
   */
  background?: Partial<Record<'temporal' | 'worker' | 'relay' | 'api', boolean>>;
  /** The application's database on that server (migrated and seeded by the caller). */
  appDatabase: string;
  cacheDir: string;
  /** Where configs and logs go. */
  workDir: string;
  /** The `temporal` CLI (namespace and search attributes). */
  cliPath: string;
  taskQueue: string;
  /** Extra environment of the API, worker and relay processes. */
  env?: Record<string, string>;
  /**
   * API processes, each on its own port (default 2: deploy/k8s/api.yaml's minimum). Clients spread over
   * them as a load balancer does, one connection per device.
   */
  apiReplicas?: number;
  /** Extra node options of those processes (`--cpu-prof --cpu-prof-dir=…` to profile them). */
  nodeArgs?: string[];
  log: (m: string) => void;
}

export interface ClusterStack {
  /** The first API replica's URL. */
  apiUrl: string;
  /** Every API replica's URL. */
  apiUrls: string[];
  temporalAddress: string;
  logs: string[];
  /** The stack's processes by role (`temporal`, `worker`, `relay`, `api`), for CPU accounting. */
  processes: { name: string; pid: number }[];
  stop(): Promise<void>;
}

async function temporalBinaries(cacheDir: string, log: (m: string) => void) {
  const dir = path.join(cacheDir, 'temporal-server', TEMPORAL_SERVER_VERSION);
  const server = path.join(dir, 'temporal-server');
  const sqlTool = path.join(dir, 'temporal-sql-tool');
  await goInstallCached({
    target: server,
    module: 'go.temporal.io/server/cmd/server',
    version: TEMPORAL_SERVER_VERSION,
    what: 'the Temporal server',
    log,
  });
  await goInstallCached({
    target: sqlTool,
    module: 'go.temporal.io/server/cmd/tools/sql',
    version: TEMPORAL_SERVER_VERSION,
    what: 'temporal-sql-tool',
    log,
  });
  return { server, sqlTool };
}

function serverConfig(o: {
  pgPort: number;
  ports: Record<string, number>;
  databases: { persistence: string; visibility: string };
}): string {
  const store = (db: string) => `
      sql:
        pluginName: "postgres12"
        databaseName: "${db}"
        connectAddr: "127.0.0.1:${o.pgPort}"
        connectProtocol: "tcp"
        user: "postgres"
        password: ""
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: "1h"`;
  const service = (name: string) => `
  ${name}:
    rpc:
      grpcPort: ${o.ports[`${name}Grpc`]}
      membershipPort: ${o.ports[`${name}Membership`]}
      bindOnLocalHost: true${name === 'frontend' ? `\n      httpPort: ${o.ports.frontendHttp}` : ''}`;
  return `log:
  stdout: true
  level: warn
persistence:
  numHistoryShards: 4
  defaultStore: default
  visibilityStore: visibility
  datastores:
    default:${store(o.databases.persistence)}
    visibility:${store(o.databases.visibility)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
services:${['frontend', 'history', 'matching', 'worker'].map(service).join('')}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: "active"
  currentClusterName: "active"
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: "frontend"
      rpcAddress: "127.0.0.1:${o.ports.frontendGrpc}"
      httpAddress: "127.0.0.1:${o.ports.frontendHttp}"
dcRedirectionPolicy:
  policy: "noop"
archival:
  history:
    state: "disabled"
  visibility:
    state: "disabled"
namespaceDefaults:
  archival:
    history:
      state: "disabled"
    visibility:
      state: "disabled"
dynamicConfigClient:
  filepath: "config/dynamicconfig.yaml"
  pollInterval: "10s"
`;
}

function spawnLogged(
  cmd: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
  cwd?: string,
  background = false,
) {
  const out = fs.openSync(logFile, 'a');
  // chrt and nice exec the command in their own process (same pid): every thread it starts inherits both.
  const [command, ...wrapped] = background ? [...BACKGROUND, cmd] : [cmd];
  const child = spawn(command, [...wrapped, ...args], { cwd, env, stdio: ['ignore', out, out] });
  fs.closeSync(out);
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => process.removeListener('exit', killOnExit));
  return child;
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.once('exit', () => {
      clearTimeout(killer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** A free port below 32768: the SQL cluster_membership table stores the membership port as a smallint. */
async function freeSmallPort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const probe = net.createServer();
      probe.once('error', () => resolve(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
    });
    if (free) return port;
  }
}

async function retry<T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: ${(err as Error).message}`);
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

export async function startClusterStack(o: ClusterStackOptions): Promise<ClusterStack> {
  const { server, sqlTool } = await temporalBinaries(o.cacheDir, o.log);
  const children: ChildProcess[] = [];
  const processes: { name: string; pid: number }[] = [];
  const logs: string[] = [];
  // Temporal's own databases, fresh for each stack: workflow ids repeat across runs (session:{scheduleId}:…).
  const databases = { persistence: `${o.appDatabase}_temporal`, visibility: `${o.appDatabase}_temporal_vis` };
  const stop = async () => {
    for (const c of children.reverse()) await stopChild(c);
    for (const db of Object.values(databases))
      await dropDatabase((o.temporalPg ?? o.pg).adminUrl, db).catch(() => undefined);
  };
  try {
    // Schemas: the tool's embedded Postgres 12 schemas, applied to two fresh databases.
    const tpg = o.temporalPg ?? o.pg;
    const sql = (db: string, ...args: string[]) =>
      runChecked(sqlTool, [
        '--plugin',
        'postgres12',
        '--ep',
        '127.0.0.1',
        '-p',
        String(tpg.port),
        '-u',
        'postgres',
        '--db',
        db,
        ...args,
      ]);
    for (const [db, schema] of [
      [databases.persistence, 'postgresql/v12/temporal'],
      [databases.visibility, 'postgresql/v12/visibility'],
    ]) {
      o.log(`Temporal schema ${schema} into ${db}`);
      await sql(db, 'create-database');
      await sql(db, 'setup-schema', '-v', '0.0');
      await sql(db, 'update-schema', '--schema-name', schema);
    }

    const names = ['frontend', 'history', 'matching', 'worker'];
    const ports: Record<string, number> = { frontendHttp: await freePort() };
    for (const n of names) {
      ports[`${n}Grpc`] = await freePort();
      ports[`${n}Membership`] = await freeSmallPort();
    }
    const root = path.join(o.workDir, 'temporal');
    fs.mkdirSync(path.join(root, 'config'), { recursive: true });
    fs.writeFileSync(
      path.join(root, 'config', 'development.yaml'),
      serverConfig({ pgPort: tpg.port, ports, databases }),
    );
    // The server requires the dynamic config file to exist; defaults are fine.
    fs.writeFileSync(path.join(root, 'config', 'dynamicconfig.yaml'), '{}\n');
    const serverLog = path.join(o.workDir, 'temporal-server.log');
    logs.push(serverLog);
    o.log(`starting the Temporal server (Postgres persistence) on 127.0.0.1:${ports.frontendGrpc}`);
    const temporal = spawnLogged(
      server,
      ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'],
      serverLog,
      process.env,
      root,
      o.background?.temporal,
    );
    children.push(temporal);
    processes.push({ name: 'temporal', pid: temporal.pid! });
    await waitForPort(ports.frontendGrpc, 120_000, 'Temporal frontend');
    const address = `127.0.0.1:${ports.frontendGrpc}`;
    const cli = (...args: string[]) =>
      runChecked(o.cliPath, [...args, '--address', address], {
        env: { ...process.env, TEMPORAL_VERSION_CHECK_DISABLED: '1' },
      });
    await retry('creating the default namespace', 120_000, () =>
      cli('operator', 'namespace', 'create', '--namespace', 'default', '--retention', '72h').catch(
        async (err: Error) => {
          if (!/already/i.test(err.message)) throw err;
          return '';
        },
      ),
    );
    for (const flag of searchAttributeFlags()) {
      const [name, type] = flag.split('=');
      await retry(`search attribute ${name}`, 120_000, () =>
        cli(
          'operator',
          'search-attribute',
          'create',
          '--namespace',
          'default',
          '--name',
          name,
          '--type',
          type,
        ),
      );
    }
    // A new namespace reaches every service's cache within ~10 s: wait until it takes a list query.
    await retry('the namespace to be usable', 120_000, () =>
      cli('workflow', 'list', '--namespace', 'default', '--limit', '1'),
    );

    const apiPorts: number[] = [];
    for (let i = 0; i < (o.apiReplicas ?? 2); i++) apiPorts.push(await freePort());
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: 'development',
      DATABASE_URL: o.pg.urlFor(o.appDatabase),
      TEMPORAL_ADDRESS: address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: o.taskQueue,
      API_HOST: '127.0.0.1',
      MAINTENANCE_SCHEDULES: 'false',
      RELAY_IN_WORKER: 'false',
      LOG_LEVEL: 'warn',
      ...o.env,
    };
    const exits: Promise<never>[] = [];
    for (const [name, file, port] of [
      ['worker', 'workers/main.ts'],
      ['relay', 'workers/relayMain.ts'],
      ...apiPorts.map((p) => ['api', 'api/main.ts', p] as const),
    ] as const) {
      const logFile = path.join(o.workDir, `${name}${port ? `-${port}` : ''}.log`);
      logs.push(logFile);
      const child = spawnLogged(
        process.execPath,
        [...(o.nodeArgs ?? []), '--import', 'tsx', path.join(repoRoot, file)],
        logFile,
        port ? { ...env, API_PORT: String(port) } : env,
        repoRoot,
        o.background?.[name as 'worker' | 'relay' | 'api'],
      );
      children.push(child);
      processes.push({ name, pid: child.pid! });
      exits.push(
        new Promise<never>((_, reject) =>
          child.once('exit', (code) => reject(new Error(`the ${name} exited (${code}); see ${logFile}`))),
        ),
      );
    }
    // A process that dies while starting fails the start at once.
    const started = Promise.race([
      Promise.all(apiPorts.map((p) => waitForPort(p, 120_000, 'API'))),
      ...exits,
    ]);
    exits.forEach((e) => e.catch(() => undefined));
    await started;
    // Measure a warm system: the worker has bundled its workflows and polls the task queue.
    await retry('the worker to poll', 180_000, async () => {
      const out = await cli(
        'task-queue',
        'describe',
        '--namespace',
        'default',
        '--task-queue',
        o.taskQueue,
        '-o',
        'json',
      );
      if (!/"identity"/.test(out)) throw new Error('no poller yet');
      return out;
    });
    const apiUrls = apiPorts.map((p) => `http://127.0.0.1:${p}`);
    return { apiUrl: apiUrls[0]!, apiUrls, temporalAddress: address, logs, processes, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
