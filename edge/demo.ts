/**
 * Demo mode: one simulated Pi (device pi-r100 in room R100, where the demo seed runs DEMO100 "now") with
 * the scripted classroom source against a local API.
 *
 * 1. Enrolls real people from the test photos through the API (consent + photos → enrollStudent
 *    workflow): Obama as S001 (two photos), and two people cut from a face-api group photo as S002/S003.
 * 2. Plays scenes in which enrolled and non-enrolled people appear: Obama (a third, different photo) next
 *    to Biden (not enrolled), the group photo (two enrolled, others not), an empty room.
 * 3. Prints what it recognised and what reached the server.
 *
 * `npm start` calls: `await runEdgeDemo({ apiBaseUrl })` (see the exported options).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import sharp from 'sharp';
import { createFacePipeline } from '../models';
import { ensureFaceImages } from '../models/datasets/faces';
import { abortableSleep } from './backoff';
import { startEdge, type EdgeApp } from './app';
import { loadEdgeConfig } from './config';
import { ClassroomSource, type ClassroomScene } from './sources/classroom';

const repoRoot = path.resolve(__dirname, '..');

export interface EdgeDemoOptions {
  /** The local API, e.g. http://127.0.0.1:3000. */
  apiBaseUrl: string;
  deviceId?: string;
  apiKey?: string;
  /** The admin who records consent and uploads the photos; default the demo seed's admin. */
  adminEmail?: string;
  adminPassword?: string;
  classroomId?: string;
  /** Outbox and roster cache; default a fresh temporary directory. */
  dataDir?: string;
  width?: number;
  height?: number;
  fps?: number;
  /** Stop by itself after this long; default: run until stop() or the signal. */
  durationSeconds?: number;
  uploadIntervalSeconds?: number;
  signal?: AbortSignal;
  log?: Logger;
  /** Progress lines for people (default stdout). */
  say?: (line: string) => void;
}

export interface DemoPerson {
  studentId: string;
  who: string;
  enrollPhotos: Buffer[];
}

export interface EdgeDemoHandle {
  app: EdgeApp;
  enrolled: DemoPerson[];
  scenes: ClassroomScene[];
  stop(): Promise<void>;
  done: Promise<void>;
}

async function json(res: Response): Promise<unknown> {
  const text = await res.text();
  return text ? (JSON.parse(text) as unknown) : undefined;
}

/** The published demo credentials of the seeded admin (DEMO_SEED only, never in production). */
export const DEMO_ADMIN = { email: 'admin@demo.school', password: 'rollcall-demo' } as const;

export interface SignedIn {
  /** `Bearer <jwt>` */
  authorization: string;
  userId: string;
}

/** POST /api/v1/auth/login: people-facing routes need a signed-in user, and record actions as that user. */
export async function signIn(apiBaseUrl: string, email: string, password: string): Promise<SignedIn> {
  const res = await fetch(`${apiBaseUrl}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, password }),
  });
  const body = (await json(res)) as { token?: string; user?: { id: string } } | undefined;
  if (res.status !== 200 || !body?.token)
    throw new Error(`sign-in as ${email}: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { authorization: `Bearer ${body.token}`, userId: body.user?.id ?? email };
}

/**
 * Consent + photos through the API as a signed-in admin, then waits for the
 * enrollStudent workflow; returns the number of embeddings stored.
 */
export async function enrollThroughApi(
  apiBaseUrl: string,
  admin: SignedIn,
  studentId: string,
  photos: Buffer[],
): Promise<number> {
  const { authorization, userId: by } = admin;
  const headers = { 'Content-Type': 'application/json', Authorization: authorization };
  const consent = await fetch(`${apiBaseUrl}/api/v1/students/${studentId}/consent`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ grantedBy: by }),
  });
  if (consent.status !== 200 && consent.status !== 201)
    throw new Error(
      `consent for ${studentId}: HTTP ${consent.status} ${JSON.stringify(await json(consent))}`,
    );
  const upload = await fetch(`${apiBaseUrl}/api/v1/students/${studentId}/photos`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ by, images: photos.map((p) => p.toString('base64')) }),
  });
  if (upload.status !== 202)
    throw new Error(`photos for ${studentId}: HTTP ${upload.status} ${JSON.stringify(await json(upload))}`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    const status = (await json(
      await fetch(`${apiBaseUrl}/api/v1/students/${studentId}/enrollment`, {
        headers: { Authorization: authorization },
      }),
    )) as {
      status: string;
      report?: { stored: number };
      failure?: { message?: string };
    };
    if (status.status === 'completed') return status.report?.stored ?? 0;
    if (status.status !== 'running')
      throw new Error(
        `enrollment of ${studentId} ${status.status}: ${status.failure?.message ?? JSON.stringify(status)}`,
      );
    await abortableSleep(250);
  }
  throw new Error(`enrollment of ${studentId} did not finish in 3 minutes`);
}

/** The demo's cast: real photos from the test data (face_recognition sdist, face-api demo photos). */
export async function demoCast(modelDir = path.join(repoRoot, 'models', 'onnx')): Promise<{
  people: DemoPerson[];
  scenes: ClassroomScene[];
  photo: (id: string) => string;
}> {
  const photos = ensureFaceImages({ repoRoot }).images;
  const photo = (id: string) => {
    const p = photos.find((x) => x.id === id);
    if (!p) throw new Error(`test photo ${id} is missing: run npx tsx scripts/setup-models.ts --faces`);
    return p.path;
  };
  const group = photo('face-api/sample6');
  // Two people of the group photo, cut out with a margin, become students; the others stay strangers.
  const pipeline = await createFacePipeline({ modelDir, tileGrid: 2 });
  const faces = (await pipeline.detectFaces(group))
    .filter((f) => f.quality.ok)
    .sort((a, b) => a.box.x - b.box.x);
  await pipeline.dispose();
  const meta = await sharp(group).metadata();
  const crops = await Promise.all(
    faces.slice(0, 2).map(async (f) => {
      const m = Math.max(f.box.width, f.box.height);
      const left = Math.max(0, Math.round(f.box.x - m));
      const top = Math.max(0, Math.round(f.box.y - m));
      const width = Math.min((meta.width ?? 0) - left, Math.round(f.box.width + 2 * m));
      const height = Math.min((meta.height ?? 0) - top, Math.round(f.box.height + 2 * m));
      return sharp(group)
        .extract({ left, top, width, height })
        .resize({ width: 400 })
        .jpeg({ quality: 92 })
        .toBuffer();
    }),
  );
  const people: DemoPerson[] = [
    {
      studentId: 'S001',
      who: 'Barack Obama',
      enrollPhotos: [
        fs.readFileSync(photo('face_recognition/obama')),
        fs.readFileSync(photo('face_recognition/obama2')),
      ],
    },
    ...crops.map((c, i) => ({
      studentId: `S00${i + 2}`,
      who: `person ${i + 1} of face-api sample6`,
      enrollPhotos: [c],
    })),
  ];
  const scenes: ClassroomScene[] = [
    {
      label: 'Obama (enrolled, a photo not used for enrollment) next to Biden (not enrolled)',
      people: [photo('face_recognition/obama3'), photo('face_recognition/biden')],
      frames: 40,
    },
    { label: 'a group: two enrolled students and strangers', people: [group], frames: 40 },
    {
      label: 'strangers only (face-api sample2, nobody enrolled)',
      people: [photo('face-api/sample2')],
      frames: 30,
    },
    { label: 'empty room', people: [], frames: 20 },
  ];
  return { people, scenes, photo };
}

export async function runEdgeDemo(opts: EdgeDemoOptions): Promise<EdgeDemoHandle> {
  const say = opts.say ?? ((l: string) => process.stdout.write(`[edge-demo] ${l}\n`));
  const log = opts.log ?? pino({ level: 'warn', name: 'rollcall-edge-demo' });
  const base = opts.apiBaseUrl.replace(/\/+$/, '');
  const cast = await demoCast();
  const admin = await signIn(
    base,
    opts.adminEmail ?? DEMO_ADMIN.email,
    opts.adminPassword ?? DEMO_ADMIN.password,
  );
  for (const p of cast.people) {
    const stored = await enrollThroughApi(base, admin, p.studentId, p.enrollPhotos);
    say(
      `enrolled ${p.studentId} (${p.who}) from ${p.enrollPhotos.length} photo(s): ${stored} embedding(s) stored`,
    );
  }
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'rollcall-edge-demo-'));
  const cfg = loadEdgeConfig({
    DEVICE_ID: opts.deviceId ?? 'pi-r100',
    CLASSROOM_ID: opts.classroomId ?? 'R100',
    API_BASE_URL: base,
    API_KEY: opts.apiKey ?? 'demo-key-pi-r100',
    FRAME_SOURCE: 'classroom',
    CAMERA_WIDTH: String(opts.width ?? 1280),
    CAMERA_HEIGHT: String(opts.height ?? 720),
    CAMERA_FPS: String(opts.fps ?? 8),
    FRAME_SKIP: '1',
    EDGE_DATA_DIR: dataDir,
    UPLOAD_INTERVAL_SECONDS: String(opts.uploadIntervalSeconds ?? 5),
    HEARTBEAT_SECONDS: '60',
    LOG_LEVEL: 'warn',
  });
  const source = new ClassroomSource(cast.scenes, cfg.CAMERA_WIDTH, cfg.CAMERA_HEIGHT, {
    fps: cfg.CAMERA_FPS,
  });
  const app = await startEdge(cfg, { log, source });
  say(`simulated Pi ${cfg.DEVICE_ID} in room ${cfg.CLASSROOM_ID} → ${base} (data in ${dataDir})`);

  let lastScene = -1;
  let lastQueued = 0;
  const ticker = setInterval(() => {
    if (source.sceneIndex !== lastScene && source.currentScene) {
      lastScene = source.sceneIndex;
      say(`scene ${lastScene + 1}/${cast.scenes.length}: ${source.currentScene.label ?? ''}`);
    }
    const st = app.stats();
    if (st.recordsQueued !== lastQueued) {
      lastQueued = st.recordsQueued;
      say(
        `recognised → outbox: ${st.recordsQueued} record(s) so far; unknown faces ${st.unknownFaces}; queue depth ${st.queueDepth}`,
      );
    }
  }, 250);
  const stopper = new AbortController();
  opts.signal?.addEventListener('abort', () => stopper.abort(), { once: true });
  const timer = opts.durationSeconds
    ? setTimeout(() => stopper.abort(), opts.durationSeconds * 1000)
    : undefined;
  const done = new Promise<void>((resolve) =>
    stopper.signal.addEventListener('abort', () => resolve(), { once: true }),
  ).then(async () => {
    clearInterval(ticker);
    if (timer) clearTimeout(timer);
    // The pipeline first: a frame still in analysis when the time ran out may queue a record, which the final
    // upload must include.
    await app.stop();
    await app.uploader
      .drainOnce()
      .catch((err: unknown) =>
        say(`final upload failed (records stay in the outbox): ${(err as Error).message}`),
      );
    const st = app.stats();
    say(
      `stopped: ${st.framesSeen} frames, ${st.framesProcessed} analysed, ${st.facesSeen} faces, ${st.unknownFaces} unknown, ` +
        `${st.recordsQueued} records queued, ${st.queueDepth} still in the outbox`,
    );
  });
  return { app, enrolled: cast.people, scenes: cast.scenes, done, stop: async () => (stopper.abort(), done) };
}
