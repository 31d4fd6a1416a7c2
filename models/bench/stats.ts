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

/**
 * Lowest threshold whose false-accept rate on the given impostor scores is at most `far`
 * (accept when score >= threshold). With n impostors, FAR below 1/n cannot be resolved: the
 * threshold then sits just above the highest impostor score.
 */
export function thresholdAtFar(impostorScores: readonly number[], far: number): number {
  const sorted = [...impostorScores].sort((a, b) => b - a);
  const allowed = Math.floor(far * sorted.length);
  const next = sorted[allowed];
  return next === undefined ? -Infinity : next + 1e-6;
}

export function rateAtOrAbove(
  scores: readonly number[],
  threshold: number,
): { count: number; total: number; rate: number } {
  const count = scores.filter((s) => s >= threshold).length;
  return { count, total: scores.length, rate: scores.length ? count / scores.length : 0 };
}

export function formatRate(count: number, total: number): string {
  const ci = wilsonInterval(count, total);
  const pct = (v: number): string => (100 * v).toFixed(1);
  return `${pct(total ? count / total : 0)}% [${pct(ci.low)}–${pct(ci.high)}] (${count}/${total})`;
}
