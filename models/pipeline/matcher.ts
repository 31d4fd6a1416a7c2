/**
 * Scores a probe embedding against an enrolled roster with one matrix-vector product over a
 * contiguous Float32Array (rows = enrolled embeddings, unit length, so dot = cosine similarity).
 * A person may have several enrolled embeddings; their score is the best of them.
 */
import { EmbeddingDimensionError } from './errors';

export interface RosterEmbedding {
  personId: string;
  embedding: Float32Array;
}

export interface MatcherOptions {
  /** Cosine similarity below which the best candidate is reported as unknown. */
  threshold: number;
  /** Required lead of the best person over the second; 0 disables the ambiguity check. */
  minMargin?: number;
}

export type MatchResult =
  | { kind: 'match'; personId: string; score: number; margin: number; secondPersonId: string | null }
  | {
      kind: 'unknown';
      reason: 'empty-roster' | 'below-threshold' | 'ambiguous';
      bestPersonId: string | null;
      score: number;
      margin: number;
    };

export class Matcher {
  private readonly matrix: Float32Array;
  private readonly rowPerson: Int32Array;
  private readonly personIds: string[];
  private readonly scratch: Float32Array;
  private readonly personBest: Float32Array;

  constructor(
    readonly dim: number,
    roster: readonly RosterEmbedding[],
    private readonly options: MatcherOptions,
  ) {
    this.matrix = new Float32Array(roster.length * dim);
    this.rowPerson = new Int32Array(roster.length);
    const personIndex = new Map<string, number>();
    roster.forEach((entry, row) => {
      if (entry.embedding.length !== dim) {
        throw new EmbeddingDimensionError(
          `embedding for ${entry.personId} has ${entry.embedding.length} values, matcher expects ${dim}`,
        );
      }
      let index = personIndex.get(entry.personId);
      if (index === undefined) {
        index = personIndex.size;
        personIndex.set(entry.personId, index);
      }
      this.rowPerson[row] = index;
      this.matrix.set(entry.embedding, row * dim);
    });
    this.personIds = [...personIndex.keys()];
    this.scratch = new Float32Array(roster.length);
    this.personBest = new Float32Array(this.personIds.length);
  }

  get size(): number {
    return this.rowPerson.length;
  }

  /** Cosine similarity of the probe with every enrolled row (the one matrix-vector product). */
  scoreAll(probe: Float32Array): Float32Array {
    if (probe.length !== this.dim)
      throw new EmbeddingDimensionError(`probe has ${probe.length} values, matcher expects ${this.dim}`);
    const { matrix, dim, scratch } = this;
    for (let row = 0, offset = 0; row < scratch.length; row++, offset += dim) {
      let dot = 0;
      for (let k = 0; k < dim; k++) dot += (matrix[offset + k] as number) * (probe[k] as number);
      scratch[row] = dot;
    }
    return scratch;
  }

  match(probe: Float32Array): MatchResult {
    if (this.size === 0)
      return { kind: 'unknown', reason: 'empty-roster', bestPersonId: null, score: -1, margin: 0 };
    const scores = this.scoreAll(probe);
    const best = this.personBest.fill(-Infinity);
    for (let row = 0; row < scores.length; row++) {
      const person = this.rowPerson[row] as number;
      if ((scores[row] as number) > (best[person] as number)) best[person] = scores[row] as number;
    }
    let first = 0;
    let second = -1;
    for (let p = 1; p < best.length; p++) {
      if ((best[p] as number) > (best[first] as number)) {
        second = first;
        first = p;
      } else if (second < 0 || (best[p] as number) > (best[second] as number)) {
        second = p;
      }
    }
    const score = best[first] as number;
    // With a single enrolled person there is no runner-up: the margin is measured from zero similarity.
    const margin = score - (second >= 0 ? (best[second] as number) : 0);
    const personId = this.personIds[first] as string;
    if (score < this.options.threshold)
      return { kind: 'unknown', reason: 'below-threshold', bestPersonId: personId, score, margin };
    if (margin < (this.options.minMargin ?? 0))
      return { kind: 'unknown', reason: 'ambiguous', bestPersonId: personId, score, margin };
    return {
      kind: 'match',
      personId,
      score,
      margin,
      secondPersonId: second >= 0 ? (this.personIds[second] ?? null) : null,
    };
  }
}
