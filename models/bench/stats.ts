/** Small statistics helpers for the face benchmark. */

export interface Interval {
  low: number;
  high: number;
}

/** Wilson score interval for a binomial proportion (95% by default): sane for small n and p near 0 or 1. */
export function wilsonInterval(successes: number, trials: number, z = 1.96): Interval {
  if (trials === 0) return { low: 0, high: 1 };
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials))) / denominator;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

/** The smallest double above x: accepting `score >= justAbove(x)` is exactly accepting `score > x`. */
export function justAbove(x: number): number {
  if (Number.isNaN(x) || x === Infinity) return x;
  if (x === 0) return Number.MIN_VALUE;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  view.setBigUint64(0, x > 0 ? bits + 1n : bits - 1n);
  return view.getFloat64(0);
}

/**
 * Lowest threshold whose false-accept rate on the given impostor scores is at most `far` (accept when
 * score >= threshold). Ties are never split: impostors tied at the cut-off are all rejected, so the
 * achieved rate can be below `far`. With n impostors a FAR below 1/n cannot be resolved: the threshold
 * then sits just above the highest impostor score. -Infinity (accept everything) when `far` allows all.
 */
export function thresholdAtFar(impostorScores: readonly number[], far: number): number {
  const sorted = [...impostorScores].sort((a, b) => b - a);
  const allowed = Math.floor(far * sorted.length + 1e-9);
  const cut = sorted[allowed];
  return cut === undefined ? -Infinity : justAbove(cut);
}

export interface Rate {
  count: number;
  total: number;
  rate: number;
}

export function rate(count: number, total: number): Rate {
  return { count, total, rate: total ? count / total : 0 };
}

export interface TarAtFar {
  threshold: number;
  /** Genuine pairs at or above the threshold. */
  tar: Rate;
  /** Impostor pairs at or above the threshold (on the set the threshold was chosen on, or another). */
  far: Rate;
}

/**
 * TAR at a target FAR: the threshold is chosen on `chooseOn` impostor scores, then applied to `genuine`
 * and `impostor` (pass the same impostors to measure in-sample, another split's to measure held out).
 */
export function tarAtFar(
  genuine: readonly number[],
  impostor: readonly number[],
  far: number,
  chooseOn: readonly number[] = impostor,
): TarAtFar {
  const threshold = thresholdAtFar(chooseOn, far);
  return { threshold, tar: rateAtOrAbove(genuine, threshold), far: rateAtOrAbove(impostor, threshold) };
}

/** mulberry32: a small seeded generator, so splits and samples are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher-Yates with a seeded generator; the input order must itself be deterministic (sort it first). */
export function seededShuffle<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

/**
 * Splits identities (not photos) in two halves with a seeded shuffle of their sorted names: a person's
 * photos all land on one side, so a threshold chosen on one half is judged on people it never saw.
 * The first half gets the extra identity when the count is odd.
 */
export function splitByIdentity(
  identities: Iterable<string>,
  seed: number,
): { calibration: string[]; report: string[] } {
  const unique = [...new Set(identities)].sort();
  const shuffled = seededShuffle(unique, seed);
  const half = Math.ceil(shuffled.length / 2);
  return { calibration: shuffled.slice(0, half).sort(), report: shuffled.slice(half).sort() };
}

export function rateAtOrAbove(scores: readonly number[], threshold: number): Rate {
  let count = 0;
  for (const s of scores) if (s >= threshold) count++;
  return rate(count, scores.length);
}
