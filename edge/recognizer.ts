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
  faces: number;
  lowQuality: number;
  observations: FaceObservation[];
}

export class Recognizer {
  private matcher: Matcher | undefined;
  private rosterKey: string | undefined;
  private roster: CachedRoster | undefined;

  constructor(private readonly pipeline: FacePipeline) {}

  /**
   * Builds the matcher for a roster (cheap to call every frame: rebuilt only when the roster changes).
   * Returns true when the roster changed (a new class or new faces), so decisions can start afresh.
   */
  useRoster(roster: CachedRoster | undefined): boolean {
    const key = roster ? `${roster.sessionId}|${roster.etag}|${roster.rosterVersion}` : undefined;
    if (key === this.rosterKey) return false;
    this.rosterKey = key;
    this.roster = roster;
    if (!roster) {
      this.matcher = undefined;
      return true;
    }
    if (roster.modelId !== this.pipeline.embedderName || roster.dimension !== this.pipeline.embeddingDim) {
      throw new Error(
        `roster uses ${roster.modelId} (${roster.dimension}-d) but the device runs ${this.pipeline.embedderName} (${this.pipeline.embeddingDim}-d)`,
      );
    }
    // No threshold here: every compared face reports its best student; the tracker decides what votes.
    this.matcher = new Matcher(roster.dimension, rosterEmbeddings(roster), {
      threshold: Number.NEGATIVE_INFINITY,
    });
    return true;
  }

  get activeRoster(): CachedRoster | undefined {
    return this.roster;
  }

  async recognise(image: RgbImage): Promise<FrameResult> {
    const faces = await this.pipeline.detectFaces(image);
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
    return { faces: faces.length, lowQuality: faces.length - good.length, observations };
  }
}
