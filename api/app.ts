/**
 * The Express app, built apart from `listen` so tests drive it with supertest. Device-facing routes use
 * device keys (rate-limited per device); people-facing routes use JWTs from POST /api/v1/auth/login with
 * roles (admin / teacher scoped to their courses). See README "Security".
 */
import express, { type Express } from 'express';
import type { Knex } from 'knex';
import type { Client } from '@temporalio/client';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import crypto from 'node:crypto';
import { attendanceRoutes } from './attendance/routes';
import { errorHandler, notFound } from './errors';
import { healthRoutes } from './health/routes';
import { reportRoutes } from './reports/routes';
import { exportRoutes } from './exports/routes';
import { scheduleRoutes } from './schedule/routes';
import { config, type Config, type TrustProxy } from '../lib/config';
import { enrollmentSettingsFromConfig, type EnrollmentSettings } from '../lib/enrollment';
import { enrollmentRoutes } from './enrollment/routes';
import { rosterRoutes } from './roster/routes';
import { jwtSettingsFromConfig, type JwtSettings } from '../lib/jwt';
import { RateLimiter } from '../lib/rateLimiter';
import { scheduleAdminRoutes } from './admin/schedules';
import { importRoutes } from './admin/imports';
import { courseAdminRoutes } from './admin/courses';
import { enrollmentAdminRoutes } from './admin/enrollments';
import { roomAdminRoutes } from './admin/rooms';
import { studentAdminRoutes } from './admin/students';
import { schoolRoutes } from './admin/schools';
import { authRoutes } from './auth/routes';
import { accountSettingsFrom, type AccountSettings } from './auth/settings';
import { authenticateUser, requestSchoolOf } from './auth/user';
import { userAdminRoutes } from './auth/users';
import { privacyRoutes } from './privacy/routes';
import { securityHeaders } from './security/headers';
import { setDeviceLimiters } from './security/rateLimit';
import { ROUTING_OPTIONS } from './router';
import { sessionRoutes } from './sessions/routes';
import { dashboardApiRoutes } from './dashboard/overview';
import { classRoutes } from './dashboard/classes';
import { deviceHealthRoutes } from './dashboard/devices';
import { pageRoutes } from './dashboard/pages';
import { deviceRoutes } from './devices/routes';
import { metricsRoutes, requestMetrics } from './metrics/routes';
import { requestScopedDb, schoolScope } from '../lib/tenancy';

export interface AppDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  bodyLimit: string;
  earlyMinutes: number;
  graceMinutes: number;
  /** The worker's amendment window (SESSION_AMEND_HOURS) and the allowed device clock lead; config's when omitted. */
  amendMinutes?: number;
  clockSkewSeconds?: number;
  /** The server's clock for judging device timestamps (tests fix it); Date.now when omitted. */
  now?: () => number;
  /** Enrollment staging, model and embedding cipher; read from config when omitted. */
  enrollment?: EnrollmentSettings;
  enrollmentUploadLimit?: string;
  /** JWT keys and lifetime; from config when omitted. */
  jwt?: JwtSettings;
  /**
   * Per minute, counted in Postgres: requests per device key, login attempts per client IP and e-mail (and
   * per e-mail, per IP), wrong device keys per client IP. From config when omitted, field by field.
   */
  rateLimits?: {
    devicePerMinute: number;
    loginPerMinute: number;
    loginEmailPerMinute?: number;
    loginIpPerMinute?: number;
    deviceAuthFailuresPerMinute?: number;
  };
  /** Accounts: admin MFA requirement (ADMIN_MFA_REQUIRED), TOTP clock, lockout limits; config's when omitted. */
  accounts?: Partial<AccountSettings>;
  /** Express `trust proxy` (which peers may name the client in X-Forwarded-For); config TRUST_PROXY when omitted. */
  trustProxy?: TrustProxy;
  /** Bearer token of /metrics; null: none (loopback clients only); config METRICS_TOKEN when omitted. */
  metricsToken?: string | null;
  /** Send HSTS (the API is reached over TLS); config API_HSTS when omitted. */
  hsts?: boolean;
  /** Temporal Web UI base for the dashboard's links; config TEMPORAL_UI_URL or the local dev server's. */
  temporalUiUrl?: string;
}

/** The app's settings as configured (entrypoints add db, Temporal client and logger). */
export function appSettingsFrom(
  cfg: Config,
): Pick<AppDeps, 'taskQueue' | 'bodyLimit' | 'earlyMinutes' | 'graceMinutes'> {
  return {
    taskQueue: cfg.TEMPORAL_TASK_QUEUE,
    bodyLimit: cfg.BODY_LIMIT,
    earlyMinutes: cfg.SESSION_EARLY_MINUTES,
    graceMinutes: cfg.SESSION_GRACE_MINUTES,
  };
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  // The app's own router follows the same rules as every feature router (api/router.ts).
  app.set('case sensitive routing', ROUTING_OPTIONS.caseSensitive);
  app.set('strict routing', ROUTING_OPTIONS.strict);
  // Nobody by default: X-Forwarded-For names the client only when it comes from a configured proxy.
  app.set('trust proxy', deps.trustProxy ?? config().TRUST_PROXY);
  app.use(
    pinoHttp({
      logger: deps.log,
      genReqId: (req, res) => {
        const id = (req.headers['x-request-id'] as string | undefined) ?? crypto.randomUUID();
        res.setHeader('X-Request-Id', id);
        return id;
      },
      autoLogging: { ignore: (req) => (req.url ?? '').startsWith('/health') },
    }),
  );
  app.use(requestMetrics());
  app.use(securityHeaders({ hsts: deps.hsts ?? config().API_HSTS }));
  const jwt = deps.jwt ?? jwtSettingsFromConfig(config());
  const perMinute = (name: string, limit: number) =>
    new RateLimiter(deps.db, { name, limit, windowSeconds: 60 });
  const limits = deps.rateLimits ?? {
    devicePerMinute: config().RATE_LIMIT_DEVICE_PER_MINUTE,
    loginPerMinute: config().RATE_LIMIT_LOGIN_PER_MINUTE,
  };
  setDeviceLimiters(app, {
    perDevice: perMinute('device', limits.devicePerMinute),
    authFailuresPerIp: perMinute(
      'device-auth-failures-ip',
      limits.deviceAuthFailuresPerMinute ?? config().RATE_LIMIT_DEVICE_AUTH_FAILURES_PER_MINUTE,
    ),
  });
  // Verifies a JWT if one is presented (device keys pass through); routes decide with requireUser.
  const accounts = accountSettingsFrom(config(), deps.accounts);
  app.use(authenticateUser({ db: deps.db, jwt, accounts }));
  // A school user's request runs in the school's scope: row-level security shows it that school's rows only,
  // whatever a query forgets (lib/tenancy.ts). Routes hold `db`, which follows the request's scope.
  app.use(schoolScope(deps.db, requestSchoolOf(deps.db)));
  const db = requestScopedDb(deps.db);
  const enrollment = deps.enrollment ?? enrollmentSettingsFromConfig(config());
  // Before the global JSON parser: photo uploads carry their own, larger body limit.
  app.use(
    enrollmentRoutes({
      db,
      temporal: deps.temporal,
      taskQueue: deps.taskQueue,
      log: deps.log,
      settings: enrollment,
      uploadLimit: deps.enrollmentUploadLimit ?? config().ENROLLMENT_UPLOAD_LIMIT,
    }),
  );
  app.use(express.json({ limit: deps.bodyLimit, strict: true }));
  app.use(rosterRoutes({ db, log: deps.log, settings: enrollment }));
  app.use(healthRoutes(db, deps.temporal));
  app.use(
    attendanceRoutes({
      db,
      earlyMinutes: deps.earlyMinutes,
      graceMinutes: deps.graceMinutes,
      amendMinutes: deps.amendMinutes ?? config().SESSION_AMEND_HOURS * 60,
      clockSkewMs: (deps.clockSkewSeconds ?? config().CLOCK_SKEW_SECONDS) * 1000,
      now: deps.now,
      log: deps.log,
    }),
  );
  app.use(scheduleRoutes({ db, earlyMinutes: deps.earlyMinutes, graceMinutes: deps.graceMinutes }));
  app.use(reportRoutes(db));
  app.use(exportRoutes({ db, log: deps.log }));
  app.use(
    authRoutes({
      db,
      counters: deps.db,
      jwt,
      loginLimiters: {
        perIpAndEmail: perMinute('login-ip-email', limits.loginPerMinute),
        perEmail: perMinute(
          'login-email',
          limits.loginEmailPerMinute ?? config().RATE_LIMIT_LOGIN_EMAIL_PER_MINUTE,
        ),
        perIp: perMinute('login-ip', limits.loginIpPerMinute ?? config().RATE_LIMIT_LOGIN_IP_PER_MINUTE),
      },
      accounts,
    }),
  );
  app.use(userAdminRoutes({ db }));
  app.use(sessionRoutes({ db, temporal: deps.temporal }));
  app.use(scheduleAdminRoutes({ db, temporal: deps.temporal, taskQueue: deps.taskQueue, log: deps.log }));
  app.use(importRoutes({ db, temporal: deps.temporal, taskQueue: deps.taskQueue, log: deps.log }));
  const adminCrud = { db, temporal: deps.temporal, taskQueue: deps.taskQueue, log: deps.log };
  app.use(studentAdminRoutes(adminCrud));
  app.use(courseAdminRoutes(adminCrud));
  app.use(enrollmentAdminRoutes(adminCrud));
  app.use(roomAdminRoutes(adminCrud));
  app.use(schoolRoutes({ db }));
  app.use(privacyRoutes({ db, temporal: deps.temporal, stagingDir: enrollment.stagingDir }));
  const temporalUiUrl =
    deps.temporalUiUrl ?? config().TEMPORAL_UI_URL ?? `http://127.0.0.1:${config().TEMPORAL_UI_PORT}`;
  const dashboardSettings = { temporalUiUrl, namespace: config().TEMPORAL_NAMESPACE };
  app.use(dashboardApiRoutes({ db, settings: dashboardSettings }));
  app.use(classRoutes({ db }));
  app.use(deviceHealthRoutes({ db, temporal: deps.temporal, settings: dashboardSettings }));
  app.use(
    deviceRoutes({
      db,
      temporal: deps.temporal,
      taskQueue: deps.taskQueue,
      log: deps.log,
      settings: {
        offlineAfterMs: config().DEVICE_OFFLINE_MINUTES * 60_000,
        cpuTempAlertC: config().DEVICE_CPU_TEMP_ALERT_C,
      },
      clockSkewMs: (deps.clockSkewSeconds ?? config().CLOCK_SKEW_SECONDS) * 1000,
    }),
  );
  app.use(
    metricsRoutes(
      deps.metricsToken === undefined ? config().METRICS_TOKEN : (deps.metricsToken ?? undefined),
    ),
  );
  app.use(pageRoutes());
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
