/** Which failures the error middleware answers with 503 + Retry-After (retry later) instead of 500. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import express from 'express';
import pino from 'pino';
import request from 'supertest';
import { errorHandler, isDependencyUnavailable } from '../../../api/errors';

const withCode = (code: string | number, message = 'x') => Object.assign(new Error(message), { code });

void describe('dependency-unavailable mapping', () => {
  void test('when Postgres, its pool or Temporal is unreachable, then the error counts as unavailable', () => {
    assert.ok(isDependencyUnavailable(withCode('ECONNREFUSED')));
    assert.ok(
      isDependencyUnavailable(withCode('57P01', 'terminating connection due to administrator command')),
    );
    assert.ok(isDependencyUnavailable(withCode('57P03', 'the database system is starting up')));
    assert.ok(isDependencyUnavailable(withCode('08006')));
    assert.ok(
      isDependencyUnavailable(
        Object.assign(new Error('Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
      ),
    );
    assert.ok(isDependencyUnavailable(new Error('Connection terminated unexpectedly')));
    // knex prefixes the failed statement to node-postgres's message.
    assert.ok(
      isDependencyUnavailable(
        new Error(
          'insert into "recognition_events" ("event_id") values ($1) - Connection terminated unexpectedly',
        ),
      ),
    );
    assert.ok(isDependencyUnavailable(new Error('select 1 - Client was closed and is not queryable')));
    assert.ok(isDependencyUnavailable(new Error('timeout exceeded when trying to connect')));
    assert.ok(isDependencyUnavailable(new AggregateError([withCode('ECONNREFUSED')], 'connect failed')));
    assert.ok(isDependencyUnavailable(new Error('wrapped', { cause: withCode(14, '14 UNAVAILABLE') })));
  });

  void test('when the error is a bug or bad data, then it is not unavailable', () => {
    assert.ok(!isDependencyUnavailable(new TypeError('x is undefined')));
    assert.ok(!isDependencyUnavailable(withCode('23505', 'duplicate key')));
    assert.ok(!isDependencyUnavailable(withCode(3, 'INVALID_ARGUMENT')));
    assert.ok(!isDependencyUnavailable(undefined));
  });

  void test('when a route fails because Postgres is down, then the answer is 503 dependency_unavailable with Retry-After', async () => {
    const app = express();
    app.get('/x', () => {
      throw withCode('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432');
    });
    app.get('/nul', () => {
      throw withCode('22021', 'invalid byte sequence for encoding "UTF8": 0x00');
    });
    app.get('/bug', () => {
      throw new TypeError('boom');
    });
    app.use(errorHandler(pino({ level: 'silent' })));
    const res = await request(app).get('/x');
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '5');
    assert.equal(res.body.error.code, 'dependency_unavailable');
    assert.equal((await request(app).get('/bug')).status, 500);
    const nul = await request(app).get('/nul');
    assert.equal(nul.status, 400, 'a value Postgres cannot take is the fault of the request');
    assert.equal(nul.body.error.code, 'invalid_value');
  });
});
