/**
 * detect → quality gate → align/embed → score against the class roster, for one frame. Faces that fail the
 * quality gate are not embedded (they would only add false matches and CPU) but are still reported with
 * their box, so the tracker keeps following them. Every compared face reports the roster's best student,
 * its score and its lead over the runner-up; whether that is a vote is the tracker's decision
 * (edge/tracker.ts), under the calibrated rules.
 */
import { Matcher, type FacePipeline, type RgbImage } from '../models';
import { rosterEmbeddings, type CachedRoster } from './roster';
import type { FaceObservation } from './tracker';

export interface FrameResult {
  /** Wall time of face detection on this frame (reported in the heartbeat as face_detection_latency). */
  detectMs: number;
  faces: number;
  lowQuality: number;
  observations: FaceObservation[];
}

export class Recognizer {
  private matcher: Matcher | undefined;
  private rosterKey: string | undefined;

  constructor(private readonly pipeline: FacePipeline) {}

  /**
   * Builds the matcher for the rosters of the classes taking sightings now (cheap to call every frame:
   * rebuilt only when they change). Between two classes the faces of both are compared; a student on both
   * rosters counts once. Returns true when the rosters changed (a new class or new faces), so decisions can
   * start afresh.
   */
  useRoster(roster: CachedRoster | readonly CachedRoster[] | undefined): boolean {
    const rosters: readonly CachedRoster[] =
      roster === undefined ? [] : 'sessionId' in roster ? [roster] : roster;
    const key =
      rosters.length === 0
        ? undefined
        : rosters.map((r) => `${r.sessionId}|${r.etag}|${r.rosterVersion}`).join('\n');
    if (key === this.rosterKey) return false;
    this.rosterKey = key;
    if (rosters.length === 0) {
      this.matcher = undefined;
      return true;
    }
    for (const r of rosters) {
      if (r.modelId !== this.pipeline.embedderName || r.dimension !== this.pipeline.embeddingDim) {
        throw new Error(
          `roster uses ${r.modelId} (${r.dimension}-d) but the device runs ${this.pipeline.embedderName} (${this.pipeline.embeddingDim}-d)`,
        );
      }
    }
    const seen = new Set<string>();
    const rows = rosters.flatMap((r) => {
      const fresh = { ...r, students: r.students.filter((st) => !seen.has(st.studentId)) };
      for (const st of fresh.students) seen.add(st.studentId);
      return rosterEmbeddings(fresh);
    });
    // No threshold here: every compared face reports its best student; the tracker decides what votes.
    this.matcher = new Matcher(this.pipeline.embeddingDim, rows, { threshold: Number.NEGATIVE_INFINITY });
    return true;
  }

  async recognise(image: RgbImage): Promise<FrameResult> {
    const detectStarted = performance.now();
    const faces = await this.pipeline.detectFaces(image);
    const detectMs = performance.now() - detectStarted;
    const good = faces.filter((f) => f.quality.ok);
    const observations: FaceObservation[] = faces.filter((f) => !f.quality.ok).map((f) => ({ box: f.box }));
    if (this.matcher && good.length > 0) {
      for (const face of await this.pipeline.embedDetected(image, good)) {
        const m = this.matcher.match(face.embedding);
        observations.push(
          m.kind === 'match'
            ? { box: face.box, best: { studentId: m.personId, score: m.score, margin: m.margin } }
            : { box: face.box },
        );
      }
    } else {
      observations.push(...good.map((f) => ({ box: f.box })));
    }
    return { detectMs, faces: faces.length, lowQuality: faces.length - good.length, observations };
  }
}
