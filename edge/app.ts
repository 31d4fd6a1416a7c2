/**
 * The edge app: source → detector → aligner → embedder → matcher → tracker → debouncer → outbox, with the
 * roster sync, the uploader and the heartbeat running beside the frame loop.
 *
 * Start-up order: data dir → outbox (recovers from any crash) → roster cache → face models → frame source
 * → loops. Stop: abort every loop, wait for the frame in flight, close the source and the models; the
 * outbox needs no flush (every taken record is already on disk).
 */
import fs from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { createFacePipeline, type FacePipeline } from '../models';
import type { DeviceConfig } from '../lib/contracts';
import { ApiClient } from './api';
import { EdgeClock } from './clock';
import type { EdgeConfig } from './config';
import { Debouncer } from './debounce';
import { DetectionLatency } from './detectionLatency';
import { fetchWithCa, readCaFile } from './httpsWithCa';
import { Heartbeat } from './heartbeat';
import { Outbox } from './outbox';
import { Recognizer } from './recognizer';
import { rosterForSighting, RosterStore } from './roster';
import { RosterSync } from './schedule';
import { calibratedRules, DeviceConfigStore, effectiveSettings, type EdgeSettings } from './settings';
import { ClassroomSource, type ClassroomScene } from './sources/classroom';
import { DirectorySource } from './sources/directory';
import { findCameraBinary, LibcameraSource } from './sources/libcamera';
import type { FrameSource } from './sources/types';
import { FaceTracker, type RecognitionRules, type TrackerStats } from './tracker';
import { Uploader } from './uploader';

export const EDGE_VERSION = `rollcall-edge/${(JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version}`;

export interface EdgeStats {
  framesSeen: number;
  framesProcessed: number;
  facesSeen: number;
  lowQualityFaces: number;
  unknownFaces: number;
  /** Compared faces that voted for a student. */
  votes: number;
  /** Tracks that reached their votes (each one sighting, before the debounce). */
  sightings: number;
  tracks: TrackerStats;
  recordsQueued: number;
  recordsDropped: number;
  debounced: number;
  sourceDropped: number;
  queueDepth: number;
  fps: number;
  rosterSessionId: string | null;
  rosterVersion: number | null;
  /** Every class whose roster is compared now (two around a class change), the first as the server ranks them. */
  rosterSessionIds: string[];
  /** How far the device's clock is ahead of the server's (null until measured); sightings are corrected by it. */
  clockOffsetMs: number | null;
  /** Records in the dead-letter file. */
  deadLetters: number;
  rules: RecognitionRules;
  frameSkip: number;
  configVersion: number | null;
}

export interface EdgeDeps {
  log?: Logger;
  /** Overrides FRAME_SOURCE (the demo and tests pass a scripted classroom). */
  source?: FrameSource;
  scenes?: readonly ClassroomScene[];
  pipeline?: FacePipeline;
  /** The calibrated rules of the pipeline's embedder; default: the model manifest's (calibratedRules). */
  recognitionDefaults?: RecognitionRules;
  /** The device's clocks (tests shift the wall clock); the real ones when omitted. */
  clock?: EdgeClock;
}

export interface EdgeApp {
  readonly outbox: Outbox;
  readonly rosterSync: RosterSync;
  readonly uploader: Uploader;
  readonly heartbeat: Heartbeat;
  readonly clock: EdgeClock;
  readonly source: FrameSource;
  stats(): EdgeStats;
  /** Resolves when every loop has stopped. */
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

/** The camera (or its stand-in) at `fps` frames per second. */
export function createFrameSource(
  cfg: EdgeConfig,
  scenes?: readonly ClassroomScene[],
  fps: number = cfg.CAMERA_FPS,
): FrameSource {
  switch (cfg.FRAME_SOURCE) {
    case 'libcamera':
      return new LibcameraSource(
        findCameraBinary(cfg.CAMERA_COMMAND),
        cfg.CAMERA_WIDTH,
        cfg.CAMERA_HEIGHT,
        fps,
      );
    case 'directory':
      return new DirectorySource(cfg.FRAME_DIRECTORY as string, cfg.CAMERA_WIDTH, cfg.CAMERA_HEIGHT, { fps });
    case 'classroom':
      if (!scenes) throw new Error('FRAME_SOURCE=classroom needs scenes (see edge/demo.ts)');
      return new ClassroomSource(scenes, cfg.CAMERA_WIDTH, cfg.CAMERA_HEIGHT, { fps });
  }
}

export async function startEdge(cfg: EdgeConfig, deps: EdgeDeps = {}): Promise<EdgeApp> {
  const log = (deps.log ?? pino({ level: cfg.LOG_LEVEL, name: 'rollcall-edge' })).child({
    deviceId: cfg.DEVICE_ID,
  });
  fs.mkdirSync(cfg.EDGE_DATA_DIR, { recursive: true, mode: 0o700 });
  const outbox = Outbox.open(path.join(cfg.EDGE_DATA_DIR, 'outbox'), { maxRecords: cfg.OUTBOX_MAX_RECORDS });
  if (outbox.depth > 0) log.info({ queueDepth: outbox.depth }, 'outbox has records from before the restart');
  // Class times and record timestamps are the server's: every answer carrying server_time measures the offset.
  const clock = deps.clock ?? new EdgeClock();
  const api = new ApiClient({
    baseUrl: cfg.API_BASE_URL,
    deviceId: cfg.DEVICE_ID,
    apiKey: cfg.API_KEY,
    timeoutMs: cfg.HTTP_TIMEOUT_SECONDS * 1000,
    clock,
    ...(cfg.ROLLCALL_CA_FILE ? { fetch: fetchWithCa(readCaFile(cfg.ROLLCALL_CA_FILE)) } : {}),
  });
  if (
    !cfg.API_BASE_URL.startsWith('https:') &&
    !/^http:\/\/(127\.|localhost[:/]|\[::1\])/.test(cfg.API_BASE_URL)
  ) {
    log.warn(
      { apiBaseUrl: cfg.API_BASE_URL },
      'API_BASE_URL is plain HTTP: the device key and marks travel unencrypted',
    );
  }
  const rosterSync = new RosterSync(api, new RosterStore(cfg.EDGE_DATA_DIR), log, {
    classroomId: cfg.CLASSROOM_ID,
    pollMs: cfg.SCHEDULE_POLL_SECONDS * 1000,
    now: () => clock.now(),
  });
  // The last config the server sent applies from the start (a reboot without network keeps it).
  const configStore = new DeviceConfigStore(cfg.EDGE_DATA_DIR);
  let remote = configStore.load();
  // The source is checked before the models load, so a missing camera fails fast with a clear error.
  const cameraFps = remote?.config.fps ?? cfg.CAMERA_FPS;
  const source = deps.source ?? createFrameSource(cfg, deps.scenes, cameraFps);
  const pipeline =
    deps.pipeline ??
    (await createFacePipeline({
      modelDir: cfg.EDGE_MODEL_DIR,
      embedder: cfg.FACE_EMBEDDER,
      tileGrid: 1,
      intraOpNumThreads: cfg.EDGE_THREADS,
    }));
  const calibrated =
    deps.recognitionDefaults ?? calibratedRules(cfg.EDGE_MODEL_DIR, pipeline.embedderName, log);
  let settings: EdgeSettings = effectiveSettings(calibrated, cfg, remote?.config ?? {});
  const recognizer = new Recognizer(pipeline);
  const tracker = new FaceTracker(settings.rules);
  const debouncer = new Debouncer(cfg.DEBOUNCE_SECONDS * 1000);
  const uploader = new Uploader(outbox, api, log, { intervalMs: cfg.UPLOAD_INTERVAL_SECONDS * 1000 });

  const s = {
    framesSeen: 0,
    framesProcessed: 0,
    facesSeen: 0,
    lowQualityFaces: 0,
    unknownFaces: 0,
    votes: 0,
    sightings: 0,
    recordsQueued: 0,
  };
  const fpsWindow: number[] = [];
  const detectionLatency = new DetectionLatency();
  const fps = () => {
    const now = Date.now();
    while (fpsWindow.length > 0 && (fpsWindow[0] as number) < now - 10_000) fpsWindow.shift();
    return fpsWindow.length < 2
      ? 0
      : ((fpsWindow.length - 1) * 1000) / Math.max(1, now - (fpsWindow[0] as number));
  };

  // The answer holds only what an admin set; every other field falls back to the device's own default,
  // so clearing a setting on the server brings the calibrated value back.
  const applyConfig = (config: DeviceConfig, configVersion: number) => {
    const next = effectiveSettings(calibrated, cfg, config);
    remote = { config, configVersion };
    configStore.save(remote);
    settings = next;
    tracker.setRules(next.rules);
    log.info(
      { configVersion, explicit: config, rules: next.rules, frameSkip: next.frameSkip },
      next.fps === cameraFps
        ? 'applied configuration from the server'
        : 'applied configuration from the server; the camera rate changes at the next start',
    );
  };
  // Said once when the offset becomes noticeable and again whenever it moves by a second or more.
  let loggedOffsetMs = 0;
  const noteClockOffset = (offsetMs: number) => {
    if (Math.abs(offsetMs - loggedOffsetMs) < 1000) return;
    loggedOffsetMs = offsetMs;
    log.warn(
      { clockOffsetMs: Math.round(offsetMs) },
      `the device clock is ${Math.abs(offsetMs / 1000).toFixed(1)} s ${offsetMs > 0 ? 'ahead of' : 'behind'} the server's; sightings are stamped in the server's time (check NTP on the device)`,
    );
  };
  const heartbeat = new Heartbeat(api, log, {
    deviceId: cfg.DEVICE_ID,
    version: EDGE_VERSION,
    intervalMs: cfg.HEARTBEAT_SECONDS * 1000,
    status: () => {
      const r = rosterSync.active();
      return {
        queueDepth: outbox.depth,
        fps: fps(),
        droppedEvents: outbox.dropped,
        deadLetters: outbox.deadLetters,
        ...(r ? { rosterVersion: r.rosterVersion } : {}),
        ...(clock.measured ? { clockOffsetMs: clock.offsetMs() } : {}),
        detectionLatency: detectionLatency.take(),
      };
    },
    onAnswer: () => {
      if (clock.measured) noteClockOffset(clock.offsetMs());
    },
    applyConfig,
    ...(remote ? { appliedConfigVersion: remote.configVersion } : {}),
  });

  const stopper = new AbortController();
  const signal = stopper.signal;

  const frameLoop = async () => {
    for await (const frame of source.frames(signal)) {
      s.framesSeen++;
      fpsWindow.push(Date.now());
      if (frame.seq % (settings.frameSkip + 1) !== 0) continue;
      // Around a class change two classes take sightings: both rosters are compared, and each sighting
      // goes to the class the server will file it under.
      const rosters = rosterSync.activeRosters(clock.toServerTime(frame.capturedAt));
      // No class in the room: faces are not even looked at, and no track outlives its class.
      if (rosters.length === 0) {
        if (recognizer.useRoster(undefined)) tracker.reset();
        continue;
      }
      try {
        if (recognizer.useRoster(rosters)) tracker.reset();
        const result = await recognizer.recognise(frame.image);
        detectionLatency.record(result.detectMs);
        const decided = tracker.observe(result.observations, frame.capturedAt);
        s.framesProcessed++;
        s.facesSeen += result.faces;
        s.lowQualityFaces += result.lowQuality;
        s.unknownFaces += decided.nonVotes;
        s.votes += decided.votes;
        s.sightings += decided.sightings.length;
        const records = decided.sightings
          .map((sighting) => {
            // Stamped in the server's time: a Pi clock that runs ahead must not get marks rejected.
            const at = clock.toServerTime(sighting.seenAt);
            const roster = rosterForSighting(rosters, sighting.studentId, at) ?? rosters[0];
            return debouncer.offer(sighting, at, { sessionId: roster.sessionId, courseId: roster.courseId });
          })
          .filter((r) => r !== undefined);
        if (records.length > 0) {
          const { taken, dropped } = outbox.append(records);
          s.recordsQueued += taken;
          if (dropped > 0) log.error({ dropped, queueDepth: outbox.depth }, 'outbox full: records dropped');
          log.info(
            {
              students: records.map((r) => r.student_id),
              sessionIds: [...new Set(records.map((r) => r.session_id))],
            },
            'recognised',
          );
        }
      } catch (err) {
        log.error({ err }, 'frame failed');
      }
    }
  };

  const loops = [
    frameLoop().catch((err: unknown) => {
      log.fatal({ err }, 'frame source failed');
      stopper.abort();
      throw err;
    }),
    rosterSync.run(signal),
    uploader.run(signal),
    heartbeat.run(signal),
  ];
  const done = Promise.allSettled(loops).then(async (results) => {
    await source.close();
    if (!deps.pipeline) await pipeline.dispose();
    const failed = results.find((r) => r.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
  });
  log.info(
    {
      source: source.name,
      width: source.width,
      height: source.height,
      rules: settings.rules,
      frameSkip: settings.frameSkip,
      configVersion: remote?.configVersion ?? null,
      version: EDGE_VERSION,
    },
    'edge started',
  );

  return {
    outbox,
    rosterSync,
    uploader,
    heartbeat,
    clock,
    source,
    done,
    stats: () => {
      const r = rosterSync.active();
      return {
        ...s,
        recordsDropped: outbox.dropped,
        debounced: debouncer.suppressed,
        sourceDropped: source.dropped,
        queueDepth: outbox.depth,
        fps: fps(),
        rosterSessionId: r?.sessionId ?? null,
        rosterVersion: r?.rosterVersion ?? null,
        rosterSessionIds: rosterSync.activeRosters().map((x) => x.sessionId),
        clockOffsetMs: clock.measured ? Math.round(clock.offsetMs()) : null,
        deadLetters: outbox.deadLetters.count,
        tracks: { ...tracker.stats },
        rules: settings.rules,
        frameSkip: settings.frameSkip,
        configVersion: remote?.configVersion ?? null,
      };
    },
    stop: async () => {
      stopper.abort();
      await done.catch(() => undefined);
    },
  };
}
