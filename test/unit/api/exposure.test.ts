/**
 * A safe default install (#16): TRUST_PROXY parsing, /metrics access rules, the refusal to listen on a
 * reachable address with the public development keys (also as the real api/main.ts start-up), and the
 * Temporal dev UI bound to loopback.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, test } from 'node:test';
import {
  assertSafeListenAddress,
  ConfigError,
  isLoopbackHost,
  loadConfig,
  trustProxyFrom,
} from '../../../lib/config';
import { metricsAccess } from '../../../lib/metricsAccess';
import { repoRoot } from '../../../lib/paths';
import { devServerArgs } from '../../../lib/temporal/devServer';

const TOKEN = 'a'.repeat(64);

void describe('TRUST_PROXY', () => {
  void test('when unset, then nobody is trusted; a hop count or a list of addresses, CIDRs and named ranges is taken as it is', () => {
    assert.equal(trustProxyFrom(undefined), false);
    assert.equal(trustProxyFrom(''), false);
    assert.equal(loadConfig({}).TRUST_PROXY, false);
    assert.equal(trustProxyFrom('1'), 1);
    assert.deepEqual(trustProxyFrom('loopback, 10.0.0.0/8,fd00::/8, 192.0.2.7'), [
      'loopback',
      '10.0.0.0/8',
      'fd00::/8',
      '192.0.2.7',
    ]);
    assert.deepEqual(loadConfig({ TRUST_PROXY: 'uniquelocal' }).TRUST_PROXY, ['uniquelocal']);
  });

  void test('when it would trust every peer or is not an address, then the configuration is refused naming the variable', () => {
    for (const bad of ['true', '*', 'everyone', '10.0.0.0/33', '300.1.1.1', '10.0.0.1/8/1', '99']) {
      assert.throws(() => loadConfig({ TRUST_PROXY: bad }), /TRUST_PROXY/, bad);
    }
  });
});

void describe('/metrics access', () => {
  const direct = { remoteAddress: '127.0.0.1', proxied: false };
  void test('when a token is configured, then only Bearer <token> passes, from anywhere; anything else is 401 with WWW-Authenticate', () => {
    assert.equal(metricsAccess(TOKEN, { ...direct, authorization: `Bearer ${TOKEN}` }).ok, true);
    assert.equal(
      metricsAccess(TOKEN, { remoteAddress: '203.0.113.5', proxied: true, authorization: `Bearer ${TOKEN}` })
        .ok,
      true,
    );
    for (const authorization of [undefined, '', TOKEN, `Bearer ${TOKEN}x`, `Basic ${TOKEN}`, 'Bearer ']) {
      const d = metricsAccess(TOKEN, { ...direct, authorization });
      assert.equal(d.ok, false);
      if (!d.ok) {
        assert.equal(d.status, 401);
        assert.match(d.headers['WWW-Authenticate']!, /^Bearer realm=/);
      }
    }
  });

  void test('when no token is configured, then only a direct loopback client passes', () => {
    for (const remoteAddress of ['127.0.0.1', '::1', '::ffff:127.0.0.1'])
      assert.equal(metricsAccess(undefined, { remoteAddress, proxied: false }).ok, true, remoteAddress);
    for (const req of [
      { remoteAddress: '127.0.0.1', proxied: true },
      { remoteAddress: '10.1.2.3', proxied: false },
      { remoteAddress: '::ffff:192.168.1.4', proxied: false },
      { remoteAddress: undefined, proxied: false },
    ]) {
      const d = metricsAccess(undefined, req);
      assert.equal(d.ok, false, JSON.stringify(req));
      if (!d.ok) assert.equal(d.status, 403);
    }
  });

  void test('when METRICS_TOKEN is short or has spaces, then the configuration is refused', () => {
    assert.throws(() => loadConfig({ METRICS_TOKEN: 'short' }), /METRICS_TOKEN/);
    assert.throws(() => loadConfig({ METRICS_TOKEN: `${'a'.repeat(40)} b` }), /METRICS_TOKEN/);
    assert.equal(loadConfig({ METRICS_TOKEN: TOKEN }).METRICS_TOKEN, TOKEN);
  });
});

void describe('listening with the public development keys', () => {
  const keys = {
    JWT_SIGNING_KEYS: `k1:${'s'.repeat(48)}`,
    EMBEDDING_KEYS: `k1:${Buffer.alloc(32).toString('base64')}`,
    SECRET_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64')}`,
  };

  void test('when the keys are the public development ones, then only loopback addresses are allowed, and the error names the variables', () => {
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1', '[::1]'])
      assert.doesNotThrow(() => assertSafeListenAddress({ API_HOST: host }), host);
    for (const host of ['0.0.0.0', '::', '10.0.0.5', 'rollcall.school.example']) {
      assert.equal(isLoopbackHost(host), false);
      assert.throws(
        () => assertSafeListenAddress({ API_HOST: host }),
        (e: Error) =>
          e instanceof ConfigError &&
          /JWT_SIGNING_KEYS/.test(e.message) &&
          /EMBEDDING_KEYS/.test(e.message) &&
          /SECRET_KEYS/.test(e.message),
      );
    }
    assert.throws(
      () => assertSafeListenAddress({ API_HOST: '0.0.0.0', JWT_SIGNING_KEYS: keys.JWT_SIGNING_KEYS }),
      (e: Error) => !/JWT_SIGNING_KEYS=/.test(e.message) && /EMBEDDING_KEYS=/.test(e.message),
    );
    assert.throws(
      () =>
        assertSafeListenAddress({
          API_HOST: '0.0.0.0',
          JWT_SIGNING_KEYS: keys.JWT_SIGNING_KEYS,
          EMBEDDING_KEYS: keys.EMBEDDING_KEYS,
        }),
      (e: Error) => /SECRET_KEYS=/.test(e.message) && !/EMBEDDING_KEYS=/.test(e.message),
      'the TOTP secrets key is one of the public development keys too',
    );
    assert.doesNotThrow(() => assertSafeListenAddress({ API_HOST: '0.0.0.0', ...keys }));
  });

  void test('when api/main.ts starts on 0.0.0.0 without keys, then it exits before doing anything, naming what to set', () => {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'development',
      API_HOST: '0.0.0.0',
      // Never reached: the check comes first.
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      LOG_LEVEL: 'fatal',
    };
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'api', 'main.ts')], {
      env,
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 2, `${r.stdout}\n${r.stderr}`);
    const out = `${r.stdout}${r.stderr}`;
    assert.match(out, /API_HOST=0\.0\.0\.0/);
    assert.match(out, /JWT_SIGNING_KEYS=/);
    assert.match(out, /EMBEDDING_KEYS=/);
    assert.match(out, /SECRET_KEYS=/);
  });
});

void describe('Temporal dev server', () => {
  void test('when the Web UI is started, then it is bound to loopback like the frontend (it has no authentication)', () => {
    const args = devServerArgs({ cliPath: 'temporal', port: 7233, uiPort: 8233, namespace: 'default' });
    assert.equal(args[args.indexOf('--ip') + 1], '127.0.0.1');
    assert.equal(args[args.indexOf('--ui-ip') + 1], '127.0.0.1');
    assert.ok(
      !devServerArgs({ cliPath: 'temporal', port: 7233, namespace: 'default' }).includes('--ui-port'),
    );
  });
});
