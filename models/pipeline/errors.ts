/** Typed errors of the face pipeline, so callers can map them to clear user-facing messages. */

export class ImageDecodeError extends Error {
  override readonly name = 'ImageDecodeError';
  readonly code = 'IMAGE_DECODE_FAILED';
}

export class InvalidImageError extends Error {
  override readonly name = 'InvalidImageError';
  readonly code = 'INVALID_IMAGE';
}

export class EmbeddingDimensionError extends Error {
  override readonly name = 'EmbeddingDimensionError';
  readonly code = 'EMBEDDING_DIMENSION_MISMATCH';
}
