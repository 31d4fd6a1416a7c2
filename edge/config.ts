/**
 * The edge device's configuration: read once from its own environment (systemd EnvironmentFile on a Pi),
 * validated with zod, typed. Nothing else in edge/ reads process.env. Separate from lib/config.ts on
 * purpose: the Pi runs only this program and never has the server's secrets.
 */
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DEFAULT_EMBEDDER, EMBEDDER_NAMES } from '../models/pipeline/embedderNames';

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** The systemd unit's StateDirectory. */
export const DEFAULT_EDGE_DATA_DIR = '/var/lib/rollcall-edge';

export const FRAME_SOURCES = ['libcamera', 'directory', 'classroom'] as const;
export type FrameSourceKind = (typeof FRAME_SOURCES)[number];

/** The camera's rate and the frames skipped between analysed ones when the device's environment does not say. */
export const DEFAULT_CAMERA_FPS = 8;
export const DEFAULT_FRAME_SKIP = 2;

const schema = z
  .object({
    DEVICE_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (max 64)'),
    CLASSROOM_ID: z.string().regex(/^[A-Za-z0-9._:-]{1,64}$/, 'letters, digits and . _ : - (max 64)'),
    API_BASE_URL: z
      .url({ protocol: /^https?$/, error: 'must be an http(s) URL, e.g. https://rollcall.school.example' })
      .transform((u) => u.replace(/\/+$/, '')),
    API_KEY: z.string().min(8, 'the device key is at least 8 characters'),
    /** A PEM CA that signed the server's certificate (self-signed or internal PKI), trusted besides the public CAs. */
    ROLLCALL_CA_FILE: z.string().min(1).optional(),
    /**
     * The recognition rules (edge/tracker.ts); unset: the model manifest's calibrated values. A setting an
     * admin pushes from the server (lib/contracts/deviceConfig.ts) wins over these.
     */
    /** The embedder the device runs: the server's FACE_EMBEDDER (the roster says which; a mismatch is an error). */
    FACE_EMBEDDER: z.enum(EMBEDDER_NAMES).default(DEFAULT_EMBEDDER),
    RECOGNITION_THRESHOLD: z.coerce.number().min(0).max(1).optional(),
    RECOGNITION_MIN_MARGIN: z.coerce.number().min(0).max(1).optional(),
    RECOGNITION_VOTES: int(1, 30).optional(),
    DEBOUNCE_SECONDS: z.coerce.number().min(0).max(3600).default(30),
    /** Camera frames skipped between two analysed frames: 0 analyses every frame, 2 every third. */
    FRAME_SKIP: int(0, 1000).default(DEFAULT_FRAME_SKIP),
    CAMERA_FPS: z.coerce.number().positive().max(60).default(DEFAULT_CAMERA_FPS),
    CAMERA_WIDTH: int(64, 4096).default(640),
    CAMERA_HEIGHT: int(48, 4096).default(480),
    FRAME_SOURCE: z.enum(FRAME_SOURCES).default('libcamera'),
    /** FRAME_SOURCE=directory: folder of JPEG/PNG frames, replayed in name order. */
    FRAME_DIRECTORY: z.string().min(1).optional(),
    /** libcamera: the capture binary; default the first of rpicam-vid, libcamera-vid on PATH. */
    CAMERA_COMMAND: z.string().min(1).optional(),
    EDGE_DATA_DIR: z.string().min(1).default(DEFAULT_EDGE_DATA_DIR),
    EDGE_MODEL_DIR: z
      .string()
      .min(1)
      .default(path.resolve(__dirname, '..', 'models', 'onnx')),
    /**
     * onnxruntime threads per session: default one per core this process may use (4 on a Pi 4/5). More
     * threads than cores makes onnxruntime's spinning threads fight: on a 2-core machine 4 threads made dlib's
     * network 7× slower (a batch of 10 chips: 235 ms vs 34 ms).
     */
    EDGE_THREADS: int(1, 64).default(os.availableParallelism()),
    OUTBOX_MAX_RECORDS: int(100, 10_000_000).default(200_000),
    UPLOAD_INTERVAL_SECONDS: z.coerce.number().min(0.05).max(3600).default(60),
    SCHEDULE_POLL_SECONDS: z.coerce.number().min(1).max(86_400).default(600),
    HEARTBEAT_SECONDS: z.coerce.number().min(1).max(3600).default(60),
    HTTP_TIMEOUT_SECONDS: z.coerce.number().min(0.1).max(300).default(15),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .superRefine((c, ctx) => {
    if (c.FRAME_SOURCE === 'directory' && !c.FRAME_DIRECTORY) {
      ctx.addIssue({
        code: 'custom',
        path: ['FRAME_DIRECTORY'],
        message: 'required when FRAME_SOURCE=directory',
      });
    }
    if (c.FRAME_SOURCE === 'libcamera' && c.CAMERA_WIDTH % 64 !== 0) {
      // rpicam-vid pads I420 rows to a multiple of 64 otherwise, and fixed-size frame reads would drift.
      ctx.addIssue({
        code: 'custom',
        path: ['CAMERA_WIDTH'],
        message: 'must be a multiple of 64 for libcamera',
      });
    }
  });

export type EdgeConfig = z.infer<typeof schema>;

/**
 * Only EDGE_DATA_DIR, for the operator commands (`npm run edge -- dead-letters`), which must work on a Pi
 * whose other variables live in the service's EnvironmentFile.
 */
export function edgeDataDir(env: EdgeEnv = process.env): string {
  return env.EDGE_DATA_DIR || DEFAULT_EDGE_DATA_DIR;
}
export type EdgeEnv = Record<string, string | undefined>;

export class EdgeConfigError extends Error {
  override readonly name = 'EdgeConfigError';
  constructor(readonly problems: string[]) {
    super(`invalid edge configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

/** Validates the environment; throws EdgeConfigError listing every problem by variable name. */
export function loadEdgeConfig(env: EdgeEnv = process.env): EdgeConfig {
  const input = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    throw new EdgeConfigError(
      parsed.error.issues.map((i) => {
        const name = i.path.join('.') || '(env)';
        return i.code === 'invalid_type' && !(name in input)
          ? `${name}: is required`
          : `${name}: ${i.message}`;
      }),
    );
  }
  return parsed.data;
}
