/**
 * Every router of the API is made here, so routing is the same everywhere: case-sensitive (`/METRICS` and
 * `/API/V1/...` are 404, as they are to nginx's case-sensitive allow-list in front) and strict (a trailing
 * slash is another path, `/metrics/` is 404).
 */
import { Router } from 'express';

export const ROUTING_OPTIONS = { caseSensitive: true, strict: true } as const;

/** A feature's router (`api/<feature>/routes.ts`). */
export function featureRouter(): Router {
  return Router(ROUTING_OPTIONS);
}
