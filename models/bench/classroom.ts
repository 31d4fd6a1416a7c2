/**
 * Classroom scenes for `npm run bench:face`: what the edge decides over a lesson, not per photo. The edge's
 * own Recognizer (edge/recognizer.ts) and FaceTracker (edge/tracker.ts), under the rules they are given
 * (the calibrated ones), watch seeded scenes composited with the edge's renderScene at the camera's size.
 *
 * Only report-half identities (thresholds were chosen on the calibration half): of each set's report half,
 * half the people are enrolled from 3 seeded photos each, through the pipeline as enrollment does (one
 * face, quality gate passed), into a roster in the shape the device caches; the other half and the
 * report-half stranger gallery are strangers. A scene seats 3–5 of them and lasts 60 s of simulated time
 * at the edge's analysed-frame rate (CAMERA_FPS / (FRAME_SKIP + 1) by default). Each seat shows its
 * person's photos, never their enrolment ones, changing every few frames; a gallery stranger has one photo,
 * so every seat's face also shrinks and grows a little, and the whole scene walks a small closed loop.
 *
 * CPU: a scene is a loop of a few distinct images played for the whole minute; each distinct image is
 * rendered and recognised once, and its recognition replayed whenever it recurs (the pipeline gives the
 * same faces for the same pixels). The loop joins smoothly, and while it holds at least 2·votes − 1 images
 * the faces a track's decision weighs never come from the same pixels twice.
 *
 * A mark is a sighting of the tracker; it belongs to the seat its track's face is in when it is decided.
 */
import { loadavg } from 'node:os';
import sharp from 'sharp';
import { DEFAULT_CAMERA_FPS, DEFAULT_FRAME_SKIP } from '../../edge/config';
import { Recognizer } from '../../edge/recognizer';
import type { CachedRoster } from '../../edge/roster';
import { renderScene } from '../../edge/sources/classroom';
import { FaceTracker, type FaceObservation, type RecognitionRules } from '../../edge/tracker';
import { embeddingToBytes } from '../../lib/crypto/embeddings';
import { loadEvaluationFrame, type LabelledFace } from '../datasets/labelled-faces';
import type { FacePipeline } from '../pipeline/face-pipeline';
import type { Box } from '../pipeline/geometry';
import { rate, seededRandom, seededShuffle, splitByIdentity, type Rate } from './stats';

export type ClassroomRole = 'student' | 'stranger';

/** Someone who can sit in a scene. */
export interface ClassroomPerson {
  identity: string;
  /** The labelled set the person comes from, or "gallery" (the stranger gallery). */
  origin: string;
  role: ClassroomRole;
  /** The photos a scene may show, in a seeded order; a student's enrolment photos are not among them. */
  photos: readonly LabelledFace[];
}

/** Who takes part: students still hold all their photos (enrolment picks from them). */
export interface ClassroomCast {
  students: ClassroomPerson[];
  strangers: ClassroomPerson[];
  gallery: ClassroomPerson[];
}

export interface ClassroomLayout {
  width: number;
  height: number;
  /** Analysed frames a scene lasts, and the simulated time from one to the next. */
  frames: number;
  frameIntervalMs: number;
  /** Distinct images of a scene, played in a loop for all its frames. */
  distinctFrames: number;
  /** Consecutive distinct images a seat shows the same photo for. */
  photoFrames: number;
  /** The scene's walk: a closed loop reaching ±dx, ±dy pixels. */
  walk: { dx: number; dy: number };
  /** Each face shrinks by up to this fraction and back, every seat at its own phase. */
  scaleJitter: number;
  /** Tight crops (labelled photos) sit on a grey border this many times their size; portraits on none. */
  cropPad: number;
}

export interface ClassroomPlanOptions {
  seed: number;
  scenes: number;
  seats: { min: number; max: number };
  /** Scenes each student sits in, and each labelled stranger; gallery strangers fill the other seats once each. */
  studentAppearances: number;
  strangerAppearances: number;
}

/** The edge's defaults: the camera rate and frames skipped between analysed ones (edge/config.ts). */
export const EDGE_FRAME_TIMING = {
  cameraFps: DEFAULT_CAMERA_FPS,
  frameSkip: DEFAULT_FRAME_SKIP,
  frameIntervalMs: (1000 * (DEFAULT_FRAME_SKIP + 1)) / DEFAULT_CAMERA_FPS,
} as const;

const SCENE_MS = 60_000;

export const DEFAULT_CLASSROOM_LAYOUT: ClassroomLayout = {
  width: 640,
  height: 480,
  frames: Math.floor(SCENE_MS / EDGE_FRAME_TIMING.frameIntervalMs),
  frameIntervalMs: EDGE_FRAME_TIMING.frameIntervalMs,
  // 20 images, a new photo every 4: 5 photos a seat a scene, for 20 recognitions a scene instead of 160.
  distinctFrames: 20,
  photoFrames: 4,
  walk: { dx: 12, dy: 6 },
  scaleJitter: 0.12,
  cropPad: 1.5,
};

export const DEFAULT_CLASSROOM_PLAN: ClassroomPlanOptions = {
  seed: 14,
  scenes: 30,
  seats: { min: 3, max: 5 },
  studentAppearances: 3,
  strangerAppearances: 2,
};

/** Enrolment photos per student, as the benchmark's other figures use. */
export const CLASSROOM_ENROL_PHOTOS = 3;

const byPath = (a: LabelledFace, b: LabelledFace): number => a.path.localeCompare(b.path);

/**
 * Of each set's report half, the seeded first half of the people are students, the others strangers; every
 * report-half gallery portrait is a stranger of its own.
 */
export function castClassroom(
  sets: readonly { name: string; photos: readonly LabelledFace[]; report: readonly string[] }[],
  gallery: readonly LabelledFace[],
  seed: number,
): ClassroomCast {
  const person = (
    set: { name: string; photos: readonly LabelledFace[] },
    identity: string,
    role: ClassroomRole,
  ): ClassroomPerson => ({
    identity,
    origin: set.name,
    role,
    photos: seededShuffle(set.photos.filter((p) => p.identity === identity).sort(byPath), seed),
  });
  const halves = sets.map((set) => ({ set, ...splitByIdentity(set.report, seed) }));
  return {
    students: halves.flatMap(({ set, calibration }) => calibration.map((id) => person(set, id, 'student'))),
    strangers: halves.flatMap(({ set, report }) => report.map((id) => person(set, id, 'stranger'))),
    gallery: [...gallery]
      .sort((a, b) => a.identity.localeCompare(b.identity))
      .map((g) => ({ identity: g.identity, origin: 'gallery', role: 'stranger', photos: [g] })),
  };
}

/** One seat in one distinct image: the photo shown and the face's scale (1: as rendered, less: smaller). */
export interface Shot {
  photo: LabelledFace;
  scale: number;
}

export interface PlannedSeat {
  person: ClassroomPerson;
  /** Per distinct image of the scene. */
  shots: Shot[];
}

export interface PlannedScene {
  label: string;
  seats: PlannedSeat[];
  /** The whole scene's offset per distinct image. */
  offsets: { x: number; y: number }[];
}

/**
 * Seats people in scenes: students dealt round the scenes (at most size − 1 a scene, so every scene has a
 * stranger), then the labelled strangers, then the gallery in seeded order, once each, into the seats left.
 * Nobody sits twice in one scene. Throws when the scenes cannot hold the students and labelled strangers.
 */
export function planClassroom(
  cast: ClassroomCast,
  layout: ClassroomLayout,
  options: ClassroomPlanOptions,
): PlannedScene[] {
  const random = seededRandom(options.seed);
  const { min, max } = options.seats;
  const sizes = Array.from({ length: options.scenes }, () => min + Math.floor(random() * (max - min + 1)));
  const seated: ClassroomPerson[][] = sizes.map(() => []);
  let next = 0;
  const deal = (people: readonly ClassroomPerson[], appearances: number, room: (size: number) => number) => {
    for (let round = 0; round < appearances; round++) {
      for (const person of seededShuffle(people, options.seed + round)) {
        const offset = Array.from({ length: sizes.length }, (_, i) => (next + i) % sizes.length).find(
          (s) =>
            (seated[s] as ClassroomPerson[]).length < room(sizes[s] as number) &&
            !(seated[s] as ClassroomPerson[]).some((p) => p.identity === person.identity),
        );
        if (offset === undefined) {
          throw new Error(
            `${options.scenes} scenes of ${min}–${max} people cannot seat ${person.identity} ${appearances} times`,
          );
        }
        (seated[offset] as ClassroomPerson[]).push(person);
        next = (offset + 1) % sizes.length;
      }
    }
  };
  deal(cast.students, options.studentAppearances, (size) => size - 1);
  deal(cast.strangers, options.strangerAppearances, (size) => size);
  const gallery = seededShuffle(cast.gallery, options.seed)[Symbol.iterator]();
  seated.forEach((people, s) => {
    while (people.length < (sizes[s] as number)) {
      const g = gallery.next();
      if (g.done) break;
      people.push(g.value);
    }
  });

  const n = layout.distinctFrames;
  const turn = (k: number): number => (2 * Math.PI * k) / n;
  const appearances = new Map<string, number>();
  return seated.map((people, s) => ({
    label: `scene ${s + 1}`,
    seats: seededShuffle(people, options.seed + 1000 + s).map((person) => {
      const appearance = appearances.get(person.identity) ?? 0;
      appearances.set(person.identity, appearance + 1);
      const first = appearance * Math.ceil(n / layout.photoFrames);
      const phase = 2 * Math.PI * random();
      return {
        person,
        shots: Array.from({ length: n }, (_, k) => ({
          photo: person.photos[
            (first + Math.floor(k / layout.photoFrames)) % person.photos.length
          ] as LabelledFace,
          scale: 1 - (layout.scaleJitter * (1 - Math.cos(turn(k) + phase))) / 2,
        })),
      };
    }),
    // A figure of eight: closed, so the loop's last image leads smoothly into its first.
    offsets: Array.from({ length: n }, (_, k) => ({
      x: layout.walk.dx * Math.sin(turn(k)),
      y: layout.walk.dy * Math.sin(2 * turn(k)),
    })),
  }));
}

const NEUTRAL_GREY = { r: 128, g: 128, b: 128 } as const;

/**
 * A seat's photo as renderScene gets it: on a grey border that makes the face `scale` of its size with
 * the layout's padding (`cropPad` for tight crops).
 */
async function shotImage(shot: Shot, cropPad: number): Promise<string | Buffer> {
  const pad = (shot.photo.padScale > 1 ? cropPad : 1) / shot.scale;
  if (pad <= 1) return shot.photo.path;
  const image = sharp(shot.photo.path, { failOn: 'error' });
  const { width, height } = await image.metadata();
  if (!width || !height) throw new Error(`${shot.photo.path}: no image size`);
  const padX = Math.round(((pad - 1) * width) / 2);
  const padY = Math.round(((pad - 1) * height) / 2);
  return image
    .extend({ top: padY, bottom: padY, left: padX, right: padX, background: NEUTRAL_GREY })
    .png({ compressionLevel: 0 })
    .toBuffer();
}

/**
 * The seat a face is in: renderScene gives each of `seats` people an equal slot of the width, moved by
 * the scene's offset. Undefined outside every slot (a face the detector found in the background).
 */
export function seatAt(box: Box, seats: number, width: number, offset: { x: number }): number | undefined {
  const slot = Math.floor(width / Math.max(1, seats));
  const seat = Math.floor((box.x + box.width / 2 - offset.x) / slot);
  return seat >= 0 && seat < seats ? seat : undefined;
}

export interface SeatOutcome {
  identity: string;
  origin: string;
  role: ClassroomRole;
  /** Distinct images in which a face was found in this seat, and in which one was compared with the roster. */
  found: number;
  compared: number;
}

export interface ClassroomMark {
  /** The seat of the marked track's face; undefined when it sat in none. */
  seat: number | undefined;
  studentId: string;
  /** When the tracker yielded the sighting, from the scene's start. */
  atMs: number;
  trackId: number;
}

export interface SceneOutcome {
  label: string;
  seats: SeatOutcome[];
  marks: ClassroomMark[];
  frames: number;
  tracksStarted: number;
  tracksPoisoned: number;
}

/** What playScene needs of a scene: who sits where and how the scene moves, per distinct image. */
export interface SceneSeating {
  label: string;
  seats: readonly Pick<SeatOutcome, 'identity' | 'origin' | 'role'>[];
  offsets: readonly { x: number; y: number }[];
}

/**
 * Plays a scene's recognised distinct images in a loop through a fresh tracker (a new class: nothing
 * carries over from another scene), one analysed frame every `frameIntervalMs` of simulated time from
 * `startMs`, and attributes each sighting to the seat its track's face is in.
 */
export function playScene(
  scene: SceneSeating,
  recognised: readonly (readonly FaceObservation[])[],
  layout: Pick<ClassroomLayout, 'width' | 'frames' | 'frameIntervalMs'>,
  rules: RecognitionRules,
  startMs: number,
): SceneOutcome {
  if (recognised.length === 0 || recognised.length !== scene.offsets.length)
    throw new Error(`${scene.label}: ${recognised.length} recognised images for ${scene.offsets.length}`);
  const tracker = new FaceTracker(rules);
  const seats = scene.seats.map((s) => ({
    identity: s.identity,
    origin: s.origin,
    role: s.role,
    found: 0,
    compared: 0,
  }));
  recognised.forEach((faces, k) => {
    const offset = scene.offsets[k] as { x: number };
    for (const seat of new Set(faces.map((f) => seatAt(f.box, seats.length, layout.width, offset)))) {
      if (seat !== undefined) (seats[seat] as SeatOutcome).found++;
    }
    const compared = faces.filter((f) => f.best);
    for (const seat of new Set(compared.map((f) => seatAt(f.box, seats.length, layout.width, offset)))) {
      if (seat !== undefined) (seats[seat] as SeatOutcome).compared++;
    }
  });
  const marks: ClassroomMark[] = [];
  for (let frame = 0; frame < layout.frames; frame++) {
    const k = frame % recognised.length;
    const atMs = frame * layout.frameIntervalMs;
    const { sightings } = tracker.observe(recognised[k] as FaceObservation[], new Date(startMs + atMs));
    for (const sighting of sightings) {
      const track = tracker.activeTracks.find((t) => t.id === sighting.trackId);
      marks.push({
        seat: track
          ? seatAt(track.box, seats.length, layout.width, scene.offsets[k] as { x: number })
          : undefined,
        studentId: sighting.studentId,
        atMs,
        trackId: sighting.trackId,
      });
    }
  }
  return {
    label: scene.label,
    seats,
    marks,
    frames: layout.frames,
    tracksStarted: tracker.stats.tracksStarted,
    tracksPoisoned: tracker.stats.tracksPoisoned,
  };
}

export interface Spread {
  min: number;
  mean: number;
  max: number;
}

export interface ClassroomCounts {
  scenes: number;
  /** Analysed frames played, all scenes. */
  frames: number;
  deadlineSeconds: number;
  people: { appearances: number; perScene: Spread };
  tracks: { started: number; perScene: Spread; perPerson: number; poisoned: number };
  students: {
    people: number;
    appearances: number;
    /** Appearances in which the student was marked as themself within the deadline. */
    marked: Rate;
    /** Students so marked in every scene they sat in. */
    peopleMarked: Rate;
    /** From the scene's start to the first right mark, over the marked appearances. */
    secondsToMark: { median: number; p95: number; max: number } | null;
    /** Appearances in which a mark named someone else: wrong-person marks. */
    markedAsSomeoneElse: Rate;
    missed: { scene: string; identity: string }[];
  };
  strangers: {
    people: number;
    appearances: number;
    /** Appearances that yielded any mark. */
    marked: Rate;
    peopleMarked: number;
    byOrigin: Record<string, Rate>;
    marks: { scene: string; identity: string; markedAs: string; atSeconds: number }[];
  };
  /** Marks of a face in no seat (a detection in the background). */
  marksOffSeat: number;
  /** Every mark that names someone other than the person in its seat, off-seat marks included. */
  wrongMarks: number;
}

function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { min: 0, mean: 0, max: 0 };
  return {
    min: Math.min(...values),
    mean: values.reduce((s, x) => s + x, 0) / values.length,
    max: Math.max(...values),
  };
}

/** Nearest-rank percentile of ascending `sorted` (p in (0, 1]). */
function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)] as number;
}

/** Counts what the scenes' marks mean: right, late or missing for students; any mark of a stranger. */
export function countClassroom(scenes: readonly SceneOutcome[], deadlineMs: number): ClassroomCounts {
  const seatsOf = (role: ClassroomRole) =>
    scenes.flatMap((scene) =>
      scene.seats.flatMap((seat, i) =>
        seat.role === role ? [{ scene, seat, marks: scene.marks.filter((m) => m.seat === i) }] : [],
      ),
    );
  const students = seatsOf('student');
  const strangers = seatsOf('stranger');

  const firstRight = students.map(({ seat, marks }) =>
    marks
      .filter((m) => m.studentId === seat.identity && m.atMs <= deadlineMs)
      .reduce((first: number | undefined, m) => Math.min(first ?? Infinity, m.atMs), undefined),
  );
  const missed = students.filter((_, i) => firstRight[i] === undefined);
  const studentIds = [...new Set(students.map((s) => s.seat.identity))];
  const missedIds = new Set(missed.map((s) => s.seat.identity));
  const seconds = firstRight
    .filter((t) => t !== undefined)
    .map((t) => t / 1000)
    .sort((a, b) => a - b);
  const markedAsSomeoneElse = students.filter(({ seat, marks }) =>
    marks.some((m) => m.studentId !== seat.identity),
  );

  const strangersMarked = strangers.filter(({ marks }) => marks.length > 0);
  const origins = [...new Set(strangers.map((s) => s.seat.origin))].sort();
  const marksOffSeat = scenes.reduce((n, s) => n + s.marks.filter((m) => m.seat === undefined).length, 0);
  const wrongMarks =
    marksOffSeat +
    [...students, ...strangers].reduce(
      (n, { seat, marks }) => n + marks.filter((m) => m.studentId !== seat.identity).length,
      0,
    );
  const tracks = scenes.map((s) => s.tracksStarted);
  const appearances = scenes.reduce((n, s) => n + s.seats.length, 0);

  return {
    scenes: scenes.length,
    frames: scenes.reduce((n, s) => n + s.frames, 0),
    deadlineSeconds: deadlineMs / 1000,
    people: { appearances, perScene: spread(scenes.map((s) => s.seats.length)) },
    tracks: {
      started: tracks.reduce((n, t) => n + t, 0),
      perScene: spread(tracks),
      perPerson: appearances ? tracks.reduce((n, t) => n + t, 0) / appearances : 0,
      poisoned: scenes.reduce((n, s) => n + s.tracksPoisoned, 0),
    },
    students: {
      people: studentIds.length,
      appearances: students.length,
      marked: rate(students.length - missed.length, students.length),
      peopleMarked: rate(studentIds.filter((id) => !missedIds.has(id)).length, studentIds.length),
      secondsToMark: seconds.length
        ? {
            median: percentile(seconds, 0.5),
            p95: percentile(seconds, 0.95),
            max: seconds[seconds.length - 1] as number,
          }
        : null,
      markedAsSomeoneElse: rate(markedAsSomeoneElse.length, students.length),
      missed: missed.map(({ scene, seat }) => ({ scene: scene.label, identity: seat.identity })),
    },
    strangers: {
      people: new Set(strangers.map((s) => s.seat.identity)).size,
      appearances: strangers.length,
      marked: rate(strangersMarked.length, strangers.length),
      peopleMarked: new Set(strangersMarked.map((s) => s.seat.identity)).size,
      byOrigin: Object.fromEntries(
        origins.map((origin) => {
          const of = strangers.filter((s) => s.seat.origin === origin);
          return [origin, rate(of.filter(({ marks }) => marks.length > 0).length, of.length)];
        }),
      ),
      marks: strangersMarked.flatMap(({ scene, seat, marks }) =>
        marks.map((m) => ({
          scene: scene.label,
          identity: seat.identity,
          markedAs: m.studentId,
          atSeconds: m.atMs / 1000,
        })),
      ),
    },
    marksOffSeat,
    wrongMarks,
  };
}

export interface ClassroomEnrolment {
  students: number;
  photosPerStudent: number;
  /** Photos offered to enrolment, and those it refused (no face, several faces, or failed quality gate). */
  offered: number;
  refused: number;
  roster: { students: number; embeddings: number };
}

/**
 * Enrols each student as the server does (one face in the photo, quality gate passed, embedded by the
 * pipeline): their photos in seeded order until `photos` are accepted. Returns the roster the device would
 * cache, and the students with their other photos (those a scene may show).
 */
export async function enrolStudents(
  pipeline: FacePipeline,
  students: readonly ClassroomPerson[],
  photos: number,
): Promise<{ roster: CachedRoster; students: ClassroomPerson[]; enrolment: ClassroomEnrolment }> {
  let offered = 0;
  let refused = 0;
  const enrolled: { person: ClassroomPerson; embeddings: Float32Array[] }[] = [];
  for (const person of students) {
    const used = new Set<LabelledFace>();
    const embeddings: Float32Array[] = [];
    for (const photo of person.photos) {
      if (embeddings.length === photos) break;
      offered++;
      const faces = await pipeline.embedFaces(await loadEvaluationFrame(photo));
      const face = faces.length === 1 ? faces[0] : undefined;
      if (!face?.quality.ok) {
        refused++;
        continue;
      }
      used.add(photo);
      embeddings.push(face.embedding);
    }
    if (embeddings.length === 0) throw new Error(`${person.identity}: no photo could be enrolled`);
    enrolled.push({
      person: { ...person, photos: person.photos.filter((p) => !used.has(p)) },
      embeddings,
    });
  }
  const now = new Date();
  const roster: CachedRoster = {
    sessionId: 'bench:classroom',
    courseId: 'BENCH',
    startsAt: now.toISOString(),
    endsAt: new Date(now.getTime() + 3_600_000).toISOString(),
    rosterVersion: 1,
    etag: null,
    modelId: pipeline.embedderName,
    dimension: pipeline.embeddingDim,
    // The bytes the roster endpoint sends: float32 little-endian, base64.
    students: enrolled.map(({ person, embeddings }) => ({
      studentId: person.identity,
      embeddings: embeddings.map((e) => embeddingToBytes(e).toString('base64')),
    })),
    fetchedAt: now.toISOString(),
  };
  return {
    roster,
    students: enrolled.map((e) => e.person),
    enrolment: {
      students: enrolled.length,
      photosPerStudent: photos,
      offered,
      refused,
      roster: {
        students: enrolled.length,
        embeddings: enrolled.reduce((n, e) => n + e.embeddings.length, 0),
      },
    },
  };
}

export interface ClassroomReport {
  embedder: string;
  rules: RecognitionRules;
  layout: ClassroomLayout & {
    cameraFps: number;
    frameSkip: number;
    analysedFps: number;
    sceneSeconds: number;
  };
  plan: ClassroomPlanOptions;
  enrolment: ClassroomEnrolment;
  counts: ClassroomCounts;
  speed: {
    /** Distinct images recognised (each once) and analysed frames played through the tracker. */
    imagesRecognised: number;
    framesPlayed: number;
    /** Recognizer.recognise per image: detect, quality gate, embed, match. */
    msPerFrame: number;
    p95MsPerFrame: number;
    facesPerFrame: number;
    renderMsPerFrame: number;
    seconds: number;
    /** 1, 5 and 15 min load averages when the run started and ended (2 cores: above 2, the figures are slowed). */
    loadAverage: { start: number[]; end: number[] };
  };
  scenes: SceneOutcome[];
}

/**
 * Enrols the students, plans the scenes, renders and recognises each distinct image once with the edge's
 * Recognizer, plays every scene's minute through the edge's tracker under `rules`, and counts.
 */
export async function runClassroom(input: {
  pipeline: FacePipeline;
  rules: RecognitionRules;
  cast: ClassroomCast;
  layout?: ClassroomLayout;
  plan?: ClassroomPlanOptions;
  enrolPhotos?: number;
  log?: (m: string) => void;
}): Promise<ClassroomReport> {
  const layout = input.layout ?? DEFAULT_CLASSROOM_LAYOUT;
  const plan = input.plan ?? DEFAULT_CLASSROOM_PLAN;
  const log = input.log ?? (() => undefined);
  const started = performance.now();
  const loadAtStart = loadavg();
  const enrolPhotos = input.enrolPhotos ?? CLASSROOM_ENROL_PHOTOS;
  log(`  classroom: enrolling ${input.cast.students.length} students (${enrolPhotos} photos each)`);
  const { roster, students, enrolment } = await enrolStudents(
    input.pipeline,
    input.cast.students,
    enrolPhotos,
  );
  const scenes = planClassroom({ ...input.cast, students }, layout, plan);
  const recognizer = new Recognizer(input.pipeline);
  recognizer.useRoster(roster);

  const recogniseMs: number[] = [];
  let renderMs = 0;
  let faces = 0;
  const outcomes: SceneOutcome[] = [];
  const lessonStart = Date.UTC(2026, 0, 5, 9);
  for (const [s, scene] of scenes.entries()) {
    if (s % 5 === 0)
      log(`  classroom: scenes ${s + 1}–${Math.min(s + 5, scenes.length)} of ${scenes.length}`);
    const recognised: FaceObservation[][] = [];
    for (const [k, offset] of scene.offsets.entries()) {
      let t = performance.now();
      const photos = await Promise.all(
        scene.seats.map((seat) => shotImage(seat.shots[k] as Shot, layout.cropPad)),
      );
      const image = await renderScene(photos, layout.width, layout.height, offset);
      renderMs += performance.now() - t;
      t = performance.now();
      const result = await recognizer.recognise(image);
      recogniseMs.push(performance.now() - t);
      faces += result.faces;
      recognised.push(result.observations);
    }
    const seating: SceneSeating = {
      label: scene.label,
      seats: scene.seats.map(({ person }) => person),
      offsets: scene.offsets,
    };
    // Lessons an hour apart: each scene is a class of its own.
    outcomes.push(playScene(seating, recognised, layout, input.rules, lessonStart + s * 3_600_000));
  }
  const sorted = [...recogniseMs].sort((a, b) => a - b);
  const images = recogniseMs.length;
  return {
    embedder: input.pipeline.embedderName,
    rules: input.rules,
    layout: {
      ...layout,
      cameraFps: EDGE_FRAME_TIMING.cameraFps,
      frameSkip: EDGE_FRAME_TIMING.frameSkip,
      analysedFps: 1000 / layout.frameIntervalMs,
      sceneSeconds: (layout.frames * layout.frameIntervalMs) / 1000,
    },
    plan,
    enrolment,
    counts: countClassroom(outcomes, layout.frames * layout.frameIntervalMs),
    speed: {
      imagesRecognised: images,
      framesPlayed: outcomes.reduce((n, o) => n + o.frames, 0),
      msPerFrame: images ? recogniseMs.reduce((s, x) => s + x, 0) / images : 0,
      p95MsPerFrame: images ? percentile(sorted, 0.95) : 0,
      facesPerFrame: images ? faces / images : 0,
      renderMsPerFrame: images ? renderMs / images : 0,
      seconds: (performance.now() - started) / 1000,
      loadAverage: { start: loadAtStart, end: loadavg() },
    },
    scenes: outcomes,
  };
}

const percent = (r: Rate): string => `${(100 * r.rate).toFixed(1)}% (${r.count}/${r.total})`;

/** The heading of the benchmark's classroom table: how the scenes were made. */
export function describeClassroom(report: ClassroomReport): string {
  const { layout, counts, enrolment } = report;
  const perScene = counts.people.perScene;
  return (
    `the edge's Recognizer and tracker at the method's operating point (the open-set table's); ${counts.scenes} seeded scenes of ` +
    `${perScene.min}–${perScene.max} people at ${layout.width}x${layout.height}, each ${layout.sceneSeconds} s at ` +
    `${layout.analysedFps.toFixed(2)} analysed frames/s (CAMERA_FPS ${layout.cameraFps}, FRAME_SKIP ${layout.frameSkip}); ` +
    `${layout.distinctFrames} distinct images a scene played in a loop (each recognised once), a new photo every ` +
    `${layout.photoFrames}; half of each set's report-half people enrolled (${enrolment.photosPerStudent} photos ` +
    `each, never shown), the other half and the report-half gallery are strangers. Target: 0 strangers marked, ` +
    `≥ 99% of students marked within ${counts.deadlineSeconds} s`
  );
}

export const CLASSROOM_COLUMNS: readonly string[] = [
  'method',
  'operating point',
  'people / tracks / poisoned',
  'students marked ≤ 60 s',
  'students marked in every scene',
  's to mark: median / p95 / max',
  'students marked as another',
  'strangers marked',
  'strangers by origin',
  'wrong marks',
  'ms per frame (p95), faces',
  'run time (load at start / end)',
];

/** One method's row under CLASSROOM_COLUMNS. */
export function classroomRow(method: string, report: ClassroomReport): string[] {
  const { counts, rules, speed } = report;
  const t = counts.students.secondsToMark;
  return [
    method,
    `${rules.threshold.toFixed(3)} / ${rules.minMargin.toFixed(2)} / ${rules.votes}`,
    `${counts.people.appearances} / ${counts.tracks.started} / ${counts.tracks.poisoned}`,
    percent(counts.students.marked),
    `${counts.students.peopleMarked.count} of ${counts.students.peopleMarked.total}`,
    t ? `${t.median.toFixed(2)} / ${t.p95.toFixed(2)} / ${t.max.toFixed(2)}` : '—',
    `${counts.students.markedAsSomeoneElse.count} / ${counts.students.markedAsSomeoneElse.total}`,
    `${counts.strangers.marked.count} / ${counts.strangers.marked.total} (${counts.strangers.people} people)`,
    Object.entries(counts.strangers.byOrigin)
      .map(([origin, r]) => `${origin} ${r.count}/${r.total}`)
      .join(', '),
    String(counts.wrongMarks),
    `${speed.msPerFrame.toFixed(0)} (${speed.p95MsPerFrame.toFixed(0)}), ${speed.facesPerFrame.toFixed(1)}`,
    `${speed.seconds.toFixed(0)} s (${speed.loadAverage.start[0]?.toFixed(1)} / ${speed.loadAverage.end[0]?.toFixed(1)})`,
  ];
}

/** The students missed and the strangers marked, by scene, for the lines under the table. */
export function classroomNotes(method: string, report: ClassroomReport): string[] {
  const { students, strangers } = report.counts;
  return [
    ...students.missed.map((m) => `- ${method}: ${m.identity} not marked in ${m.scene}`),
    ...strangers.marks.map(
      (m) => `- ${method}: stranger ${m.identity} marked as ${m.markedAs} at ${m.atSeconds} s in ${m.scene}`,
    ),
  ];
}
