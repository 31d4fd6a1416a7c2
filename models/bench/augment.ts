/**
 * Photometric and geometric augmentations of a face region, used by the benchmark to build
 * several "photos" of each face when only one real photo exists.
 */
import sharp, { type Sharp } from 'sharp';
import { toRgbImage, type RgbImage } from '../pipeline/image';

export const AUGMENTATIONS = [
  'original',
  'flip',
  'brighter',
  'darker',
  'rotate+12',
  'rotate-12',
  'half-scale',
  'blur',
] as const;
export type Augmentation = (typeof AUGMENTATIONS)[number];

export async function augment(region: RgbImage, kind: Augmentation): Promise<RgbImage> {
  const base = sharp(region.data, { raw: { width: region.width, height: region.height, channels: 3 } });
  const black = { r: 0, g: 0, b: 0 };
  const pipeline = ((): Sharp => {
    switch (kind) {
      case 'original':
        return base;
      case 'flip':
        return base.flop();
      case 'brighter':
        return base.linear(1.35, 10);
      case 'darker':
        return base.linear(0.55, 0);
      case 'rotate+12':
        return base.rotate(12, { background: black });
      case 'rotate-12':
        return base.rotate(-12, { background: black });
      case 'half-scale':
        return base.resize(Math.round(region.width / 2), Math.round(region.height / 2));
      case 'blur':
        return base.blur(1.5);
    }
  })();
  return toRgbImage(pipeline);
}
