/**
 * The embedders by name, and the default: dependency-free, so configuration (server and edge) can validate
 * a name without loading onnxruntime. `dlib-flip` runs dlib's network on the chip and on its mirror image,
 * `dlib-tta` on five slightly shifted chips and their mirrors (models/pipeline/embedders.ts, fusion.ts); the
 * others run one network once.
 */
export const EMBEDDER_NAMES = [
  'dlib',
  'dlib-flip',
  'dlib-tta',
  'faceres',
  'mobileface',
  'faceplugin',
] as const;
export type EmbedderName = (typeof EMBEDDER_NAMES)[number];

/**
 * dlib's ResNet (public-domain weights, built to ONNX by models/convert/dlib-resnet.ts): on
 * `npm run bench:face` (celebrities, report half) rank-1 99.0% vs faceres' 91.2%, open-set hits per face
 * 95.3% vs 67.1%, fewer strangers accepted, and less CPU (26 vs 40 ms per face). faceplugin is close but its
 * licence is unreliable (opt-in, benchmark only). With mirror TTA (`dlib-flip`) TAR at FAR 0.1%
 * rises from 80.2% to 83.6% and strangers accepted fall from 1 to 0 of 862 (att: 3 to 1 of 724), at the same
 * hits per face, for one more chip per face (bench:edge 640x480: 23 faces/s vs 29). `dlib-tta` (the default)
 * adds four shifted chips: TAR at FAR 0.1% 86.4% (swapped halves 85.8%), for 10 chips per face. Embeddings are
 * stored per
 * model: an installation that enrolled with another embedder keeps it (FACE_EMBEDDER / the edge's
 * FACE_EMBEDDER) until it re-enrolls.
 */
export const DEFAULT_EMBEDDER: EmbedderName = 'dlib-tta';
