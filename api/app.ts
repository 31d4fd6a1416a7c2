/**
 * The Express app, built apart from `listen` so tests drive it with supertest. Device-facing routes use
 * device keys; people-facing report routes are read-only.
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
import { scheduleRoutes } from './schedule/routes';
import { config } from '../lib/config';
import { enrollmentSettingsFromConfig, type EnrollmentSettings } from '../lib/enrollment';
import { enrollmentRoutes } from './enrollment/routes';
import { rosterRoutes } from './roster/routes';

export interface AppDeps {
  db: Knex;
  temporal: Client;
  taskQueue: string;
  log: Logger;
  bodyLimit: string;
  earlyMinutes: number;
  graceMinutes: number;
  /** Enrollment staging, model and embedding cipher; read from config when omitted. */
  enrollment?: EnrollmentSettings;
  enrollmentUploadLimit?: string;
}

export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');
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
  app.use((_req, res, next) => {
    res.setHeader('X-Content-Type-Options', 'nosniff');
    res.setHeader('X-Frame-Options', 'DENY');
    res.setHeader('Referrer-Policy', 'no-referrer');
    next();
  });
  const enrollment = deps.enrollment ?? enrollmentSettingsFromConfig(config());
  // Before the global JSON parser: photo uploads carry their own, larger body limit.
  app.use(
    enrollmentRoutes({
      db: deps.db,
      temporal: deps.temporal,
      taskQueue: deps.taskQueue,
      log: deps.log,
      settings: enrollment,
      uploadLimit: deps.enrollmentUploadLimit ?? config().ENROLLMENT_UPLOAD_LIMIT,
    }),
  );
  app.use(express.json({ limit: deps.bodyLimit, strict: true }));
  app.use(rosterRoutes({ db: deps.db, log: deps.log, settings: enrollment }));
  app.use(healthRoutes(deps.db, deps.temporal));
  app.use(
    attendanceRoutes({
      db: deps.db,
      temporal: deps.temporal,
      taskQueue: deps.taskQueue,
      earlyMinutes: deps.earlyMinutes,
      graceMinutes: deps.graceMinutes,
      log: deps.log,
    }),
  );
  app.use(scheduleRoutes({ db: deps.db, earlyMinutes: deps.earlyMinutes, graceMinutes: deps.graceMinutes }));
  app.use(reportRoutes(deps.db));
  app.use(notFound);
  app.use(errorHandler(deps.log));
  return app;
}
