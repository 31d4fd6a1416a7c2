/**
 * The one place that reads process.env. Everything is validated once at start-up; a bad value stops the
 * process with a message naming the variable. Documented in the README's configuration table.
 */
import { DEFAULT_EMBEDDER, EMBEDDER_NAMES } from '../models/pipeline/embedderNames';
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
  /** Token bucket per device key (requests per minute, also the burst). */
  RATE_LIMIT_DEVICE_PER_MINUTE: z.coerce.number().int().min(1).max(100_000).default(100),
  /** Token bucket per client IP for POST /api/v1/auth/login. */
  RATE_LIMIT_LOGIN_PER_MINUTE: z.coerce.number().int().min(1).max(10_000).default(10),
  /** Send Strict-Transport-Security: set when the API is served over TLS (directly or behind a TLS proxy). */
  API_HSTS: bool.default(false),
  /** Raw recognition_events older than this are purged by purgeRecognitionEvents (marks are kept). */
  RECOGNITION_RETENTION_DAYS: z.coerce.number().int().min(1).max(3650).default(90),

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
