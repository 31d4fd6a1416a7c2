import assert from 'node:assert/strict';

/** Every 4xx/5xx carries `{ error: { code, message, details } }` and never a stack trace. */
export function assertErrorShape(
  res: { status: number; body: unknown; text?: string },
  status?: number,
): void {
  if (status !== undefined) assert.equal(res.status, status, JSON.stringify(res.body));
  assert.ok(res.status >= 400, `expected an error status, got ${res.status}`);
  const body = res.body as { error?: { code?: unknown; message?: unknown; details?: unknown } };
  assert.ok(
    body && typeof body === 'object' && body.error,
    `no error object: ${res.text ?? JSON.stringify(body)}`,
  );
  assert.deepEqual(Object.keys(body).sort(), ['error']);
  assert.deepEqual(Object.keys(body.error).sort(), ['code', 'details', 'message']);
  assert.equal(typeof body.error.code, 'string');
  assert.equal(typeof body.error.message, 'string');
  assert.doesNotMatch(
    JSON.stringify(body),
    /\bat .+\.(ts|js):\d+|node_modules|Error: /,
    'no stack traces to clients',
  );
}
