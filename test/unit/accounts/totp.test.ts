/** lib/totp.ts against the RFCs' own vectors (RFC 4648 base32, RFC 4226 HOTP, RFC 6238 TOTP) and its window rules. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { base32Decode, base32Encode, hotp, otpauthUri, totp, totpStep, verifyTotp } from '../../../lib/totp';

/** RFC 4226 / 6238 SHA-1 seed: the ASCII string "12345678901234567890". */
const SEED = Buffer.from('12345678901234567890', 'ascii');
/** A fixed clock: 2026-03-01T08:00:00Z, the start of a 30-second step. */
const T0 = Date.UTC(2026, 2, 1, 8, 0, 0);

void describe('TOTP (lib/totp.ts)', () => {
  void test('when RFC 4648 base32 vectors are encoded and decoded, then they match both ways', () => {
    const vectors: [string, string][] = [
      ['', ''],
      ['f', 'MY======'],
      ['fo', 'MZXQ===='],
      ['foo', 'MZXW6==='],
      ['foob', 'MZXW6YQ='],
      ['fooba', 'MZXW6YTB'],
      ['foobar', 'MZXW6YTBOI======'],
    ];
    for (const [plain, encoded] of vectors) {
      assert.equal(base32Encode(Buffer.from(plain), true), encoded);
      assert.equal(base32Decode(encoded).toString(), plain);
      assert.equal(base32Decode(encoded.toLowerCase().replace(/=/g, '')).toString(), plain);
    }
    const random = Buffer.from('00ff10ee20dd30cc40bb50aa60997088', 'hex');
    assert.deepEqual(base32Decode(base32Encode(random)), random);
    assert.throws(() => base32Decode('MZ1W'), RangeError);
  });

  void test('when the RFC 4226 HOTP vectors are computed, then every one matches', () => {
    const expected = [
      '755224',
      '287082',
      '359152',
      '969429',
      '338314',
      '254676',
      '287922',
      '162583',
      '399871',
      '520489',
    ];
    expected.forEach((code, counter) => assert.equal(hotp(SEED, counter), code, `counter ${counter}`));
  });

  void test('when the RFC 6238 SHA-1 vectors are computed (8 digits), then every one matches', () => {
    const vectors: [number, string][] = [
      [59, '94287082'],
      [1111111109, '07081804'],
      [1111111111, '14050471'],
      [1234567890, '89005924'],
      [2000000000, '69279037'],
      [20000000000, '65353130'],
    ];
    for (const [seconds, code] of vectors) assert.equal(totp(SEED, seconds * 1000, 8), code, `T=${seconds}`);
    // The 6-digit code is the same truncation, mod 10^6.
    assert.equal(totp(SEED, 59_000), '287082');
  });

  void test('when a code is checked, then the current step and one either side pass, farther ones do not', () => {
    const step = totpStep(T0);
    const at = (s: number) => hotp(SEED, s);
    assert.equal(verifyTotp(SEED, at(step), T0), step);
    assert.equal(verifyTotp(SEED, at(step - 1), T0), step - 1);
    assert.equal(verifyTotp(SEED, at(step + 1), T0), step + 1);
    assert.equal(verifyTotp(SEED, at(step - 2), T0), null);
    assert.equal(verifyTotp(SEED, at(step + 2), T0), null);
    assert.equal(verifyTotp(SEED, '12345', T0), null);
    assert.equal(verifyTotp(SEED, 'abcdef', T0), null);
  });

  void test('when a step was already used, then its code and older ones are refused (no replay)', () => {
    const step = totpStep(T0);
    assert.equal(verifyTotp(SEED, hotp(SEED, step), T0, step), null);
    assert.equal(verifyTotp(SEED, hotp(SEED, step - 1), T0, step - 1), null);
    assert.equal(verifyTotp(SEED, hotp(SEED, step), T0, step - 1), step);
    assert.equal(verifyTotp(SEED, hotp(SEED, step + 1), T0 + 30_000, step), step + 1);
  });

  void test('when an otpauth URI is built, then it names issuer, account and the SHA1/6/30 parameters', () => {
    const uri = new URL(otpauthUri({ issuer: 'Rollcall', account: 'ada@school.example', secret: SEED }));
    assert.equal(uri.protocol, 'otpauth:');
    assert.equal(uri.host, 'totp');
    assert.equal(decodeURIComponent(uri.pathname), '/Rollcall:ada@school.example');
    assert.equal(uri.searchParams.get('secret'), base32Encode(SEED));
    assert.equal(uri.searchParams.get('issuer'), 'Rollcall');
    assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
    assert.equal(uri.searchParams.get('digits'), '6');
    assert.equal(uri.searchParams.get('period'), '30');
  });
});
