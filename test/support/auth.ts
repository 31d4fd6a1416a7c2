/** Signing in as a demo user in tests: one login per app and user (login is rate-limited per IP). */
import assert from 'node:assert/strict';
import type { Express } from 'express';
import request from 'supertest';
import { DEMO_PASSWORD, DEMO_USERS } from '../../migrations/seeds/demoSchool';

export type DemoUser = keyof typeof DEMO_USERS;

const tokens = new WeakMap<Express, Map<string, string>>();

/** `Bearer <jwt>` for a demo user of a seeded database, via POST /api/v1/auth/login. */
export async function bearerFor(app: Express, user: DemoUser): Promise<string> {
  const cache = tokens.get(app) ?? new Map<string, string>();
  tokens.set(app, cache);
  const hit = cache.get(user);
  if (hit) return hit;
  const res = await request(app)
    .post('/api/v1/auth/login')
    .send({ email: DEMO_USERS[user], password: DEMO_PASSWORD });
  assert.equal(res.status, 200, `login as ${user}: ${JSON.stringify(res.body)}`);
  const bearer = `Bearer ${res.body.token as string}`;
  cache.set(user, bearer);
  return bearer;
}
