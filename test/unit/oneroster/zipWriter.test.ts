/**
 * The zip writers against the zip reader (and Info-ZIP's `unzip -t` where installed): what is written reads
 * back byte for byte, streamed entries of many chunks included, and a stream closed early stops the writer.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { readZip, writeZip, ZipError, ZipStreamWriter } from '../../../lib/oneroster/zip';

async function streamed(build: (zip: ZipStreamWriter) => Promise<void>): Promise<Buffer> {
  const out = new PassThrough();
  const parts: Buffer[] = [];
  out.on('data', (c: Buffer) => parts.push(c));
  const ended = new Promise((r) => out.on('end', r));
  const zip = new ZipStreamWriter(out);
  await build(zip);
  await zip.finish();
  out.end();
  await ended;
  return Buffer.concat(parts);
}

function unzipAccepts(archive: Buffer): boolean | undefined {
  try {
    execFileSync('unzip', ['-v'], { stdio: 'ignore' });
  } catch {
    return undefined; // not installed: the reader's verdict stands alone
  }
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'zipw-')), 'a.zip');
  fs.writeFileSync(file, archive);
  try {
    execFileSync('unzip', ['-tq', file], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}

void describe('zip writers', () => {
  void test('when files are written in memory, then the reader gets every byte back', () => {
    const files = { 'a.csv': 'x,y\r\n1,2\r\n', 'dir/ü.txt': Buffer.from([0, 1, 2, 255]), 'empty.csv': '' };
    const back = readZip(writeZip(files));
    assert.deepEqual([...back.keys()], Object.keys(files));
    assert.equal(back.get('a.csv')!.toString('utf8'), files['a.csv']);
    assert.deepEqual(back.get('dir/ü.txt'), files['dir/ü.txt']);
    assert.equal(back.get('empty.csv')!.length, 0);
  });

  void test('when entries are streamed in many chunks, then the archive reads back exactly and unzip accepts it', async () => {
    const lines = Array.from(
      { length: 20_000 },
      (_, i) => `session:${i % 97}:2031-01-01/S${i},present,"a, b"\r\n`,
    );
    async function* generated() {
      for (let i = 0; i < lines.length; i += 1000) yield lines.slice(i, i + 1000).join('');
    }
    let sizes: number[] = [];
    const archive = await streamed(async (zip) => {
      sizes = [
        await zip.addFile('manifest.csv', ['propertyName,value\r\n', 'oneroster.version,1.2\r\n']),
        await zip.addFile('results.csv', generated()),
        await zip.addFile('empty.csv', []),
        await zip.addFile('bytes.bin', [Buffer.from([0xde, 0xad]), Buffer.from([0xbe, 0xef])]),
      ];
    });
    const back = readZip(archive);
    assert.deepEqual([...back.keys()], ['manifest.csv', 'results.csv', 'empty.csv', 'bytes.bin']);
    assert.equal(back.get('manifest.csv')!.toString(), 'propertyName,value\r\noneroster.version,1.2\r\n');
    assert.equal(back.get('results.csv')!.toString(), lines.join(''));
    assert.equal(back.get('empty.csv')!.length, 0);
    assert.deepEqual(back.get('bytes.bin'), Buffer.from([0xde, 0xad, 0xbe, 0xef]));
    assert.deepEqual(
      sizes,
      [...back.values()].map((b) => b.length),
    );
    assert.ok(archive.length < Buffer.byteLength(lines.join('')) / 5, 'deflated');
    assert.notEqual(unzipAccepts(archive), false, 'unzip -t rejected the archive');
  });

  void test('when the output is closed midway, then the writer stops with a ZipError instead of waiting forever', async () => {
    const out = new Writable({ highWaterMark: 16, write: (_c, _e, done) => setTimeout(done, 5) });
    const zip = new ZipStreamWriter(out);
    async function* endless() {
      for (let i = 0; ; i++) {
        if (i === 50) out.destroy();
        yield `${Math.random()}`.repeat(200);
      }
    }
    await assert.rejects(
      zip.addFile('big.csv', endless()),
      (err: Error) => err instanceof ZipError || /closed|destroyed|premature/i.test(err.message),
    );
  });
});
