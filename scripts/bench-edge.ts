/**
 * `npm run bench:edge [-- --seconds N --threads T --embedder NAME]`: throughput of the edge loop on this machine with the
 * scripted classroom source (real photos: portraits and a group photo), unpaced, at 640x480 and 1280x720,
 * for FRAME_SKIP 0 (every frame analysed). Measures the real stages the device runs per frame: detector,
 * quality gate, alignment, embedder, matcher against a 30-student roster, tracker (votes), debounce. Prints a
 * table with the peak RSS of the process.
 */
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Debouncer } from '../edge/debounce';
import { demoCast } from '../edge/demo';
import { Recognizer } from '../edge/recognizer';
import type { CachedRoster } from '../edge/roster';
import { calibratedRules } from '../edge/settings';
import { FaceTracker } from '../edge/tracker';
import { ClassroomSource } from '../edge/sources/classroom';
import { embeddingToBytes } from '../lib/crypto/embeddings';
import { createFacePipeline } from '../models';
import { DEFAULT_EMBEDDER, EMBEDDER_NAMES, type EmbedderName } from '../models/pipeline/embedderNames';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string', default: '15' },
      // One per core, as the device's EDGE_THREADS default: more threads than cores slows onnxruntime down.
      threads: { type: 'string', default: String(os.availableParallelism()) },
      embedder: { type: 'string', default: DEFAULT_EMBEDDER },
    },
  });
  const seconds = Number(values.seconds);
  const embedder = values.embedder as EmbedderName;
  if (!(EMBEDDER_NAMES as readonly string[]).includes(embedder))
    throw new Error(`--embedder must be one of ${EMBEDDER_NAMES.join(', ')}`);
  const threads = Number(values.threads);
  const modelDir = path.resolve(__dirname, '..', 'models', 'onnx');
  const cast = await demoCast(modelDir);
  const pipeline = await createFacePipeline({ modelDir, tileGrid: 1, intraOpNumThreads: threads, embedder });
  // A class of 30: the demo people's real embeddings plus random unit vectors for the rest.
  const students: CachedRoster['students'] = [];
  for (const p of cast.people) {
    const faces = await pipeline.embedFaces(p.enrollPhotos[0] as Buffer);
    if (faces[0])
      students.push({
        studentId: p.studentId,
        embeddings: [embeddingToBytes(faces[0].embedding).toString('base64')],
      });
  }
  for (let i = students.length; i < 30; i++) {
    const v = Float32Array.from({ length: pipeline.embeddingDim }, () => Math.random() - 0.5);
    const n = Math.hypot(...v);
    students.push({
      studentId: `S${String(i + 1).padStart(3, '0')}`,
      embeddings: [embeddingToBytes(v.map((x) => x / n)).toString('base64')],
    });
  }
  const roster: CachedRoster = {
    sessionId: 'session:1:2026-01-05',
    courseId: 'DEMO100',
    startsAt: new Date().toISOString(),
    endsAt: new Date(Date.now() + 3600_000).toISOString(),
    rosterVersion: 1,
    etag: null,
    modelId: pipeline.embedderName,
    dimension: pipeline.embeddingDim,
    students,
    fetchedAt: new Date().toISOString(),
  };
  const scenes = cast.scenes.map((s) => ({ ...s, frames: 5 }));
  const rows: string[][] = [];
  for (const [width, height] of [
    [640, 480],
    [1280, 720],
  ] as const) {
    const recognizer = new Recognizer(pipeline);
    recognizer.useRoster(roster);
    const rules = calibratedRules(modelDir, pipeline.embedderName);
    if (!rules) throw new Error(`no calibrated recognition rules for ${pipeline.embedderName}`);
    const tracker = new FaceTracker(rules);
    const debouncer = new Debouncer(30_000);
    const source = new ClassroomSource(scenes, width, height, { fps: 0 });
    const stop = new AbortController();
    let frames = 0;
    let faces = 0;
    let matched = 0;
    let warm = 0;
    let t0 = 0;
    let peakRss = 0;
    let cpu0 = process.cpuUsage();
    for await (const frame of source.frames(stop.signal)) {
      const result = await recognizer.recognise(frame.image);
      const decided = tracker.observe(result.observations, frame.capturedAt);
      for (const s of decided.sightings) debouncer.offer(s, s.seenAt, roster);
      if (warm < 3) {
        // The first frames pay for onnxruntime's lazy allocations: not counted.
        warm++;
        if (warm === 3) {
          t0 = performance.now();
          cpu0 = process.cpuUsage();
        }
        continue;
      }
      frames++;
      faces += result.faces;
      matched += decided.sightings.length;
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
      if (performance.now() - t0 > seconds * 1000) stop.abort();
    }
    const s = (performance.now() - t0) / 1000;
    // CPU time of the whole process (all onnxruntime threads): less sensitive than wall time to other load.
    const cpu = process.cpuUsage(cpu0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    rows.push([
      `${width}x${height}`,
      String(frames),
      (frames / s).toFixed(2),
      (faces / s).toFixed(2),
      (faces / Math.max(1, frames)).toFixed(2),
      ((s * 1000) / Math.max(1, frames)).toFixed(1),
      (cpuMs / Math.max(1, frames)).toFixed(1),
      String(matched),
      (peakRss / 2 ** 20).toFixed(0),
    ]);
  }
  await pipeline.dispose();
  const head = [
    'frame size',
    'frames',
    'frames/s',
    'faces/s',
    'faces/frame',
    'ms/frame',
    'CPU ms/frame',
    'sightings',
    'peak RSS MiB',
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padStart(widths[i] as number)).join(' | ')} |`;
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  process.stdout.write(
    [
      `edge loop benchmark: ${pipeline.detectorName} + ${pipeline.embedderName}, ${threads} onnxruntime threads, FRAME_SKIP 0, ` +
        `${seconds} s per size, classroom source (${scenes.length} scenes of real photos), roster of ${students.length}`,
      `machine: ${cpu} x${os.cpus().length}, node ${process.version}`,
      line(head),
      line(widths.map((w) => '-'.repeat(w))),
      ...rows.map(line),
      'Camera frames/s the device can sustain ≈ frames/s × (FRAME_SKIP + 1) (skipped frames cost only a copy).',
      '',
    ].join('\n'),
  );
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
