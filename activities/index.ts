import type { Knex } from 'knex';
import { createSessionActivities, type SessionTimingSettings } from './sessions';

export interface ActivityDeps {
  db: Knex;
  timing: SessionTimingSettings;
}

/** Every activity the worker registers, built from its dependencies (knex, settings). */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createSessionActivities(deps.db, deps.timing),
  };
}

export type Activities = ReturnType<typeof createActivities>;
