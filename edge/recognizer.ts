/**
 * detect → quality gate → align/embed → match, for one frame. Faces that fail the quality gate are not
 * embedded (they would only add false matches and CPU); faces under the threshold or ambiguous are
 * counted as unknown and never become a student.
 */
import { EMBEDDER_SPECS, type EmbedderSpec } from '../models/pipeline/embedders';
import { Matcher, type FacePipeline, type RgbImage } from '../models';
import type { Sighting } from './debounce';
import { rosterEmbeddings, type CachedRoster } from './roster';

export interface FrameResult {
  faces: number;
  lowQuality: number;
  unknown: number;
  sightings: Sighting[];
}

export interface RecognizerOptions {
  /** Cosine threshold; undefined = the embedder's measured default. */
  threshold?: number;
  /** Required lead of the best student over the runner-up. */
  minMargin?: number;
}

export function defaultThreshold(modelId: string): number {
  const spec = (EMBEDDER_SPECS as Record<string, EmbedderSpec | undefined>)[modelId];
  return spec?.matchThreshold ?? 0.6;
}

export class Recognizer {
  private matcher: Matcher | undefined;
  private rosterKey: string | undefined;
  private roster: CachedRoster | undefined;

  constructor(
    private readonly pipeline: FacePipeline,
    private options: RecognizerOptions = {},
  ) {}

  get threshold(): number {
    return this.options.threshold ?? defaultThreshold(this.pipeline.embedderName);
  }

  setThreshold(threshold: number | undefined): void {
    this.options = { ...this.options, threshold };
    this.rosterKey = undefined;
  }

  /** Builds the matcher for a roster (cheap to call every frame: rebuilt only when the roster changes). */
  useRoster(roster: CachedRoster | undefined): void {
    const key = roster
      ? `${roster.sessionId}|${roster.etag}|${roster.fetchedAt}|${this.threshold}`
      : undefined;
    if (key === this.rosterKey) return;
    this.rosterKey = key;
    this.roster = roster;
    if (!roster) {
      this.matcher = undefined;
      return;
    }
    if (roster.modelId !== this.pipeline.embedderName || roster.dimension !== this.pipeline.embeddingDim) {
      throw new Error(
        `roster uses ${roster.modelId} (${roster.dimension}-d) but the device runs ${this.pipeline.embedderName} (${this.pipeline.embeddingDim}-d)`,
      );
    }
    this.matcher = new Matcher(roster.dimension, rosterEmbeddings(roster), {
      threshold: this.threshold,
      minMargin: this.options.minMargin ?? 0.03,
    });
  }

  get activeRoster(): CachedRoster | undefined {
    return this.roster;
  }

  async recognise(image: RgbImage): Promise<FrameResult> {
    const faces = await this.pipeline.detectFaces(image);
    const good = faces.filter((f) => f.quality.ok);
    const result: FrameResult = {
      faces: faces.length,
      lowQuality: faces.length - good.length,
      unknown: 0,
      sightings: [],
    };
    if (!this.matcher || good.length === 0) {
      result.unknown = good.length;
      return result;
    }
    const embedded = await this.pipeline.embedDetected(image, good);
    const best = new Map<string, number>();
    for (const face of embedded) {
      const m = this.matcher.match(face.embedding);
      if (m.kind !== 'match') {
        result.unknown++;
        continue;
      }
      best.set(m.personId, Math.max(best.get(m.personId) ?? -1, m.score));
    }
    result.sightings = [...best].map(([studentId, confidence]) => ({ studentId, confidence }));
    return result;
  }
}
