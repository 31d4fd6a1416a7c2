import pino, { type Logger } from 'pino';
import { config } from './config';

/**
 * Paths that must never reach a log line: keys, tokens, biometric data. pino replaces them with
 * "[redacted]" wherever they appear in a logged object.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers["x-device-key"]',
  'req.headers.cookie',
  '*.apiKey',
  '*.api_key',
  '*.password',
  '*.token',
  '*.embedding',
  '*.embeddings',
  '*.vector',
  '*.image',
  '*.photo',
];

let root: Logger | undefined;

export function logger(): Logger {
  root ??= pino({
    level: config().LOG_LEVEL,
    base: { service: 'rollcall' },
    redact: { paths: redactPaths, censor: '[redacted]' },
  });
  return root;
}
