/**
 * The one place that reads process.env. Everything is validated once at start-up; a bad value stops the
 * process with a message naming the variable. Documented in the README's configuration table.
 */
import { DEFAULT_EMBEDDER, EMBEDDER_NAMES } from '../models/pipeline/embedderNames';
import net from 'node:net';
import { z } from 'zod';
import { defaultCacheDir, defaultDataDir } from './paths';

const port = z.coerce.number().int().min(0).max(65535);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  ROLLCALL_DATA_DIR: z.string().min(1).default(defaultDataDir()),
  ROLLCALL_CACHE_DIR: z.string().min(1).default(defaultCacheDir()),
  /** Labelled evaluation faces (celebrities/, att/) for `npm run bench:face` and model tests; default `../shared/faces`. */
  ROLLCALL_FACES_DIR: z.string().min(1).optional(),

  DATABASE_URL: z.string().url().optional(),
  /**
   * Postgres reached directly where DATABASE_URL goes through PgBouncer (k8s): the relay LISTENs here, since
   * notifications do not pass transaction pooling (without it the relay still polls every RELAY_POLL_MS).
   */
  DATABASE_URL_DIRECT: z.string().url().optional(),
  PG_PORT: port.default(54329),
  DB_POOL_MAX: z.coerce.number().int().min(1).max(200).default(10),

  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('rollcall'),
  TEMPORAL_PORT: port.default(7233),
  TEMPORAL_UI_PORT: port.default(8233),
  TEMPORAL_UI_URL: z.string().url().optional(),
  TEMPORAL_CLI_PATH: z.string().min(1).optional(),
  TEMPORAL_CLI_VERSION: z
    .string()
    .regex(/^v\d+\.\d+\.\d+$/)
    .default('v1.5.1'),
  TEMPORAL_TLS_CERT_PATH: z.string().min(1).optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().min(1).optional(),
  TEMPORAL_API_KEY: z.string().min(1).optional(),

  API_PORT: port.default(3000),
  API_HOST: z.string().min(1).default('127.0.0.1'),
  BODY_LIMIT: z
    .string()
    .regex(/^\d+(kb|mb)$/)
    .default('256kb'),

  SESSION_EARLY_MINUTES: z.coerce.number().int().min(0).max(240).default(15),
  SESSION_GRACE_MINUTES: z.coerce.number().int().min(0).max(240).default(10),
  SESSION_AMEND_HOURS: z.coerce
    .number()
    .min(0)
    .max(24 * 30)
    .default(24),
  /** How far ahead of the server's clock a device's sighting may be stamped before it is rejected. */
  CLOCK_SKEW_SECONDS: z.coerce.number().int().min(0).max(3600).default(120),
  ATTENDANCE_FLUSH_SECONDS: z.coerce.number().min(0.1).max(300).default(2),

  /** `kid:base64key,kid2:base64key`, each key 32 bytes (AES-256-GCM). Required in production. */
  EMBEDDING_KEYS: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]+={0,2}(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]+={0,2})*$/,
      'expected kid:base64key[,kid:base64key…]',
    )
    .optional(),
  /** The key id new embeddings are sealed with; defaults to the last key in EMBEDDING_KEYS. */
  EMBEDDING_ACTIVE_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .optional(),
  /**
   * `kid:base64key,kid2:base64key` (32-byte keys, AES-256-GCM) for account secrets at rest (users.totp_secret).
   * Required in production. Separate from EMBEDDING_KEYS so each can be rotated on its own.
   */
  SECRET_KEYS: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]+={0,2}(,[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/_-]+={0,2})*$/,
      'expected kid:base64key[,kid:base64key…]',
    )
    .optional(),
  /** The key id new secrets are sealed with; defaults to the last key in SECRET_KEYS. */
  SECRET_ACTIVE_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/)
    .optional(),
  /** Where uploaded enrollment photos wait for the worker; default `<ROLLCALL_DATA_DIR>/enrollment-staging`. */
  ENROLLMENT_STAGING_DIR: z.string().min(1).optional(),
  /** Keep enrollment photos after encoding (off: photos are deleted once their embeddings are stored). */
  ENROLLMENT_KEEP_PHOTOS: bool.default(false),
  /**
   * The face embedder enrollment stores and rosters serve (face_embeddings.model_id); the Pis must run the
   * same one. An installation that enrolled with another embedder keeps it until its students re-enroll.
   */
  FACE_EMBEDDER: z.enum(EMBEDDER_NAMES).default(DEFAULT_EMBEDDER),
  /** Body limit of the enrollment upload (base64 JSON or a raw image). */
  ENROLLMENT_UPLOAD_LIMIT: z
    .string()
    .regex(/^\d+(kb|mb)$/)
    .default('20mb'),

  DEMO_SEED: bool.default(true),
  /** With DEMO_SEED: run one simulated Pi (pi-r100, real face photos) against the local API. */
  EDGE_DEMO: bool.default(true),

  /** `kid:secret,kid2:secret` (each secret ≥ 32 chars): the first signs people's JWTs, all verify. Required in production. */
  JWT_SIGNING_KEYS: z
    .string()
    .regex(
      /^[A-Za-z0-9_-]{1,32}:[^,:\s]{32,}(,[A-Za-z0-9_-]{1,32}:[^,:\s]{32,})*$/,
      'expected kid:secret[,kid:secret…], secrets ≥ 32 chars',
    )
    .optional(),
  JWT_TTL_MINUTES: z.coerce
    .number()
    .int()
    .min(1)
    .max(7 * 24 * 60)
    .default(60),
  /** The audience (`aud`) of people's JWTs: issued with it, and a token without it or for another is refused. */
  JWT_AUDIENCE: z
    .string()
    .regex(/^[A-Za-z0-9._:/-]{1,200}$/, 'letters, digits and . _ : / -')
    .default('rollcall-api'),
  /**
   * Admins must use TOTP MFA: an admin without it can sign in only to enrol it. The demo seed's published
   * accounts (DEMO_SEED, never in production) are exempt so the demo and its tests sign in with a password.
   */
  ADMIN_MFA_REQUIRED: bool.default(true),
  /** Requests per minute per device key (all device routes), counted in Postgres across API replicas. */
  RATE_LIMIT_DEVICE_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(100),
  /** POST /api/v1/auth/login attempts per minute per client IP and e-mail address. */
  RATE_LIMIT_LOGIN_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Login attempts per minute for one e-mail address from all addresses together (password guessing from many IPs). */
  RATE_LIMIT_LOGIN_EMAIL_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(30),
  /** Login attempts per minute from one client IP for all e-mail addresses together (password spraying). */
  RATE_LIMIT_LOGIN_IP_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Wrong device keys per minute from one client IP; beyond it every device request from there answers 429. */
  RATE_LIMIT_DEVICE_AUTH_FAILURES_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(20),
  /**
   * Which peers may set X-Forwarded-For (Express `trust proxy`): unset = none (the socket's address is the
   * client); a hop count (`1`); or a comma list of addresses, CIDRs and `loopback`, `linklocal`,
   * `uniquelocal`. Set it to the reverse proxy in front of the API, never wider.
   */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx) => {
      try {
        return trustProxyFrom(v);
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: (e as Error).message });
        return z.NEVER;
      }
    }),
  /**
   * Bearer token for GET /metrics (the API's and a standalone worker's). Unset: /metrics answers only
   * clients on the loopback interface that came through no proxy.
   */
  METRICS_TOKEN: z
    .string()
    .regex(/^[\x21-\x7e]{32,512}$/, 'at least 32 printable characters, no spaces (openssl rand -hex 32)')
    .optional(),
  /** Send Strict-Transport-Security: set when the API is served over TLS (directly or behind a TLS proxy). */
  API_HSTS: bool.default(false),
  /** Raw recognition_events older than this are purged by purgeRecognitionEvents (marks are kept). */
  RECOGNITION_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),
  /**
   * A finished OneRoster import run (applied, rejected, failed) keeps its uploaded files and staging rows this
   * long; the retention job then deletes them, keeping the run's summary, issues and change audit.
   */
  ROSTER_IMPORT_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(30),

  /** A device with no heartbeat for this long is marked offline and alerted on. */
  DEVICE_OFFLINE_MINUTES: z.coerce
    .number()
    .min(1)
    .max(24 * 60)
    .default(10),
  /** CPU temperature above which a device raises an overheating alert (once per episode). */
  DEVICE_CPU_TEMP_ALERT_C: z.coerce.number().min(30).max(120).default(70),
  /** Device alerts (offline, overheating; raised and resolved) are POSTed here as JSON when set. */
  ALERT_WEBHOOK_URL: z.string().url().optional(),
  /** A standalone worker (workers/main.ts) serves its own /metrics here; 0 = off. */
  WORKER_METRICS_PORT: port.default(0),
  /**
   * On SIGTERM the worker stops polling and gives activities in flight this long to finish before it cancels
   * them (a cancelled pg_dump or photo encoding starts over elsewhere). Keep it below the platform's own
   * stop timeout (Kubernetes terminationGracePeriodSeconds, compose stop_grace_period).
   */
  WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).max(3600).default(30),
  /** Run the inbox relay (workers/relay.ts) inside the worker process; off when relays run apart (`npm run relay`). */
  RELAY_IN_WORKER: bool.default(true),
  /** Inbox rows one relay claims per round trip. */
  RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(5000).default(500),
  /** How long a claim is exclusive: rows of a relay that died are delivered by another after this. */
  RELAY_LEASE_SECONDS: z.coerce.number().min(6).max(3600).default(30),
  /** Fallback poll of the inbox when no NOTIFY arrives. */
  RELAY_POLL_MS: z.coerce.number().int().min(50).max(60_000).default(1000),
  /**
   * A session the relay signalled is not signalled again for this long: its records gather into one signal
   * (Temporal's cost is per signal). 0 signals every claim at once, for the lowest delivery lag.
   */
  RELAY_COALESCE_MS: z.coerce.number().int().min(0).max(60_000).default(5000),
  /** A standalone relay (workers/relayMain.ts) serves its own /metrics here; 0 = off. */
  RELAY_METRICS_PORT: port.default(0),
  /** Monthly attendance partitions kept ready ahead of the current month (maintenance:partitions). */
  PARTITION_MONTHS_AHEAD: z.coerce.number().int().min(3).max(36).default(3),
  /** Where maintenance:backup writes pg_dump files; default `<ROLLCALL_DATA_DIR>/backups`. */
  BACKUP_DIR: z.string().min(1).optional(),
  /** Retention: the newest backup of each of the last N days, and of each of the last M months. */
  BACKUP_KEEP_DAILY: z.coerce.number().int().min(1).max(3650).default(30),
  BACKUP_KEEP_MONTHLY: z.coerce.number().int().min(0).max(600).default(12),
  /** Create/update the maintenance Temporal Schedules (partitions monthly, backup daily) at start-up. */
  MAINTENANCE_SCHEDULES: bool.default(true),
});

export type Config = z.infer<typeof schema>;

/** Express `trust proxy`: false (nobody), a hop count, or addresses/CIDRs/named ranges. */
export type TrustProxy = false | number | string[];

const TRUST_PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** Parses TRUST_PROXY; throws naming the bad entry. `true` / `*` (trust anyone) are refused on purpose. */
export function trustProxyFrom(spec: string | undefined): TrustProxy {
  const v = spec?.trim() ?? '';
  if (v === '' || v === '0' || v === 'false') return false;
  if (/^\d+$/.test(v)) {
    const hops = Number(v);
    if (hops > 10) throw new Error('a hop count above 10 is not a real proxy chain');
    return hops;
  }
  const entries = v.split(',').map((e) => e.trim());
  for (const e of entries) {
    if (TRUST_PROXY_NAMES.has(e)) continue;
    const [addr = '', prefix, extra] = e.split('/');
    const family = net.isIP(addr);
    const maxPrefix = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix);
    if (family === 0 || !prefixOk || extra !== undefined)
      throw new Error(
        `${JSON.stringify(e)} is not an address, a CIDR or one of loopback, linklocal, uniquelocal (trusting every peer is not offered)`,
      );
  }
  return entries;
}

/** True for an address or host name that only this machine can reach. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1') return true;
  if (h.startsWith('::ffff:')) return isLoopbackHost(h.slice(7));
  return net.isIPv4(h) && h.startsWith('127.');
}

/**
 * The variables whose unset value means a PUBLIC development secret is in use (see jwtSettingsFromConfig,
 * embeddingCipherFromConfig and totpSecretCipherFromConfig): anyone can forge tokens, read embeddings or
 * TOTP secrets with them.
 */
export function publicDevelopmentSecrets(
  cfg: Pick<Config, 'JWT_SIGNING_KEYS' | 'EMBEDDING_KEYS' | 'SECRET_KEYS'>,
): string[] {
  return [
    ...(cfg.JWT_SIGNING_KEYS ? [] : ['JWT_SIGNING_KEYS']),
    ...(cfg.EMBEDDING_KEYS ? [] : ['EMBEDDING_KEYS']),
    ...(cfg.SECRET_KEYS ? [] : ['SECRET_KEYS']),
  ];
}

/**
 * The API with the public development keys is a laptop's: it refuses to listen where another machine can
 * reach it, and says what to set.
 */
export function assertSafeListenAddress(
  cfg: Pick<Config, 'API_HOST' | 'JWT_SIGNING_KEYS' | 'EMBEDDING_KEYS' | 'SECRET_KEYS'>,
): void {
  const missing = publicDevelopmentSecrets(cfg);
  if (missing.length === 0 || isLoopbackHost(cfg.API_HOST)) return;
  throw new ConfigError(
    `API_HOST=${cfg.API_HOST} is reachable from other machines, but ${missing.join(', ')} ` +
      `${missing.length > 1 ? 'are' : 'is'} unset, so the API would use the PUBLIC development keys ` +
      '(anyone could forge an admin token or read what the keys protect). Set ' +
      missing
        .map((m) =>
          m === 'JWT_SIGNING_KEYS'
            ? 'JWT_SIGNING_KEYS=k1:$(openssl rand -base64 48)'
            : `${m}=k1:$(openssl rand -base64 32)`,
        )
        .join(' and ') +
      ', or keep API_HOST=127.0.0.1.',
  );
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

let cached: Config | undefined;
/** The process-wide configuration, read once. */
export function config(): Config {
  cached ??= loadConfig();
  return cached;
}
