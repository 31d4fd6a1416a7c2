/**
 * Image decoding and the few pixel operations the pipeline needs. Everything is interleaved
 * 8-bit RGB; sharp (libvips) does decoding and good-quality downscaling.
 */
import sharp, { type Sharp } from 'sharp';
import { ImageDecodeError, InvalidImageError } from './errors';

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major, width*height*3 bytes. */
  data: Uint8Array;
}

/** A file path, encoded bytes (JPEG/PNG/WebP…), or an already decoded RGB frame (e.g. from a camera). */
export type ImageInput = string | Buffer | RgbImage;

export interface Rect {
  left: number;
  top: number;
  width: number;
  height: number;
}

function isRgbImage(input: ImageInput): input is RgbImage {
  return typeof input === 'object' && !Buffer.isBuffer(input) && 'data' in input;
}

export function assertRgbImage(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new InvalidImageError(`invalid image size ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new InvalidImageError(
      `RGB buffer has ${data.length} bytes, expected ${width * height * 3} for ${width}x${height}`,
    );
  }
  return image;
}

/**
 * Runs a sharp pipeline to interleaved 8-bit sRGB: alpha dropped and grey promoted to three channels, so
 * every RgbImage really has three.
 */
export async function toRgbImage(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3) throw new Error(`decoded to ${info.channels} channels`);
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

export async function decodeImage(input: ImageInput): Promise<RgbImage> {
  if (isRgbImage(input)) return assertRgbImage(input);
  const label = typeof input === 'string' ? input : `${input.length}-byte buffer`;
  try {
    // failOn 'error' rejects truncated or corrupt data instead of returning a half-grey image;
    // rotate() applies the EXIF orientation so phone photos are upright.
    return await toRgbImage(sharp(input, { failOn: 'error' }).rotate());
  } catch (cause) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    throw new ImageDecodeError(`cannot decode image ${label}: ${reason}`, { cause });
  }
}

/**
 * Crops `rect` (clipped to the image) and scales it to fit inside size x size, keeping aspect ratio.
 * Returns the pixels placed at the top-left of a black square and the scale used, so detections
 * map back with x_image = rect.left + x / scale.
 */
export async function cropToSquare(
  image: RgbImage,
  rect: Rect,
  size: number,
): Promise<{ pixels: Uint8Array; scale: number }> {
  const scale = size / Math.max(rect.width, rect.height);
  const width = Math.max(1, Math.min(size, Math.round(rect.width * scale)));
  const height = Math.max(1, Math.min(size, Math.round(rect.height * scale)));
  const resized = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(rect)
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < height; y++) {
    pixels.set(resized.subarray(y * width * 3, (y + 1) * width * 3), y * size * 3);
  }
  return { pixels, scale };
}

/** Resizes a region to exactly width x height (aspect ratio not kept), for fixed-input models. */
export async function cropAndResize(
  image: RgbImage,
  rect: Rect,
  width: number,
  height: number,
): Promise<Uint8Array> {
  const out = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .extract(rect)
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Rounds and clips a rectangle to the image; null when nothing of it is inside. */
export function clipRect(image: RgbImage, rect: Rect): Rect | null {
  const left = Math.max(0, Math.floor(rect.left));
  const top = Math.max(0, Math.floor(rect.top));
  const right = Math.min(image.width, Math.ceil(rect.left + rect.width));
  const bottom = Math.min(image.height, Math.ceil(rect.top + rect.height));
  if (right - left < 2 || bottom - top < 2) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/** ITU-R BT.601 luma, as float. */
export function toGrey(pixels: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    out[i] =
      0.299 * (pixels[3 * i] ?? 0) + 0.587 * (pixels[3 * i + 1] ?? 0) + 0.114 * (pixels[3 * i + 2] ?? 0);
  }
  return out;
}
