/** Plane geometry for detections and alignment. Coordinates are image pixels, y pointing down. */

export interface Point {
  x: number;
  y: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Maps (x, y) to (a·x − b·y + tx, b·x + a·y + ty): rotation, uniform scale and translation. */
export interface SimilarityTransform {
  a: number;
  b: number;
  tx: number;
  ty: number;
}

export function area(box: Box): number {
  return Math.max(0, box.width) * Math.max(0, box.height);
}

export function intersection(p: Box, q: Box): number {
  const w = Math.min(p.x + p.width, q.x + q.width) - Math.max(p.x, q.x);
  const h = Math.min(p.y + p.height, q.y + q.height) - Math.max(p.y, q.y);
  return w > 0 && h > 0 ? w * h : 0;
}

export function iou(p: Box, q: Box): number {
  const inter = intersection(p, q);
  return inter > 0 ? inter / (area(p) + area(q) - inter) : 0;
}

/** Intersection over the smaller box: catches a face cut by a tile edge inside a full detection. */
export function intersectionOverMin(p: Box, q: Box): number {
  const inter = intersection(p, q);
  return inter > 0 ? inter / Math.min(area(p), area(q)) : 0;
}

/**
 * Least-squares similarity transform taking `from` onto `to` (Umeyama's method in 2-D, written
 * with complex numbers: to ≈ c·from + t with c = a + ib).
 */
export function estimateSimilarity(from: readonly Point[], to: readonly Point[]): SimilarityTransform {
  if (from.length !== to.length || from.length < 2) throw new RangeError('need at least two point pairs');
  const n = from.length;
  const mean = (ps: readonly Point[]): Point => ({
    x: ps.reduce((s, p) => s + p.x, 0) / n,
    y: ps.reduce((s, p) => s + p.y, 0) / n,
  });
  const mf = mean(from);
  const mt = mean(to);
  let re = 0;
  let im = 0;
  let norm = 0;
  for (let i = 0; i < n; i++) {
    const f = from[i] as Point;
    const t = to[i] as Point;
    const fx = f.x - mf.x;
    const fy = f.y - mf.y;
    const tx = t.x - mt.x;
    const ty = t.y - mt.y;
    re += tx * fx + ty * fy;
    im += ty * fx - tx * fy;
    norm += fx * fx + fy * fy;
  }
  if (norm === 0) throw new RangeError('source points coincide');
  const a = re / norm;
  const b = im / norm;
  return { a, b, tx: mt.x - (a * mf.x - b * mf.y), ty: mt.y - (b * mf.x + a * mf.y) };
}

export function applySimilarity(m: SimilarityTransform, p: Point): Point {
  return { x: m.a * p.x - m.b * p.y + m.tx, y: m.b * p.x + m.a * p.y + m.ty };
}

export function invertSimilarity(m: SimilarityTransform): SimilarityTransform {
  const d = m.a * m.a + m.b * m.b;
  const a = m.a / d;
  const b = -m.b / d;
  return { a, b, tx: -(a * m.tx - b * m.ty), ty: -(b * m.tx + a * m.ty) };
}

/**
 * Samples an RGB image through a similarity transform (image → crop) with bilinear interpolation.
 * Pixels falling outside the source are black, as in OpenCV's warpAffine default. Every embedding view of
 * every face passes through here (five per face for dlib-tta), so the common case — all four source pixels
 * inside the image — takes a straight path; it adds the same products in the same order as the border path,
 * so both give the same bytes.
 */
export function warpSimilarity(
  src: { width: number; height: number; data: Uint8Array },
  imageToCrop: SimilarityTransform,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  const inv = invertSimilarity(imageToCrop);
  const out = new Uint8Array(outWidth * outHeight * 3);
  const { width, height, data } = src;
  const row = width * 3;
  for (let v = 0; v < outHeight; v++) {
    for (let u = 0; u < outWidth; u++) {
      const sx = inv.a * u - inv.b * v + inv.tx;
      const sy = inv.b * u + inv.a * v + inv.ty;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (x0 < -1 || y0 < -1 || x0 >= width || y0 >= height) continue;
      const fx = sx - x0;
      const fy = sy - y0;
      const o = (v * outWidth + u) * 3;
      if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        const w00 = (1 - fx) * (1 - fy);
        const w01 = fx * (1 - fy);
        const w10 = (1 - fx) * fy;
        const w11 = fx * fy;
        const p = y0 * row + x0 * 3;
        for (let c = 0; c < 3; c++) {
          const acc =
            w00 * (data[p + c] as number) +
            w01 * (data[p + 3 + c] as number) +
            w10 * (data[p + row + c] as number) +
            w11 * (data[p + row + 3 + c] as number);
          out[o + c] = Math.round(acc);
        }
        continue;
      }
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let dy = 0; dy <= 1; dy++) {
          const yy = y0 + dy;
          if (yy < 0 || yy >= height) continue;
          const wy = dy ? fy : 1 - fy;
          for (let dx = 0; dx <= 1; dx++) {
            const xx = x0 + dx;
            if (xx < 0 || xx >= width) continue;
            acc += (dx ? fx : 1 - fx) * wy * (data[(yy * width + xx) * 3 + c] ?? 0);
          }
        }
        out[o + c] = Math.round(acc);
      }
    }
  }
  return out;
}
