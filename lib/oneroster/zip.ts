/**
 * Zip archives (PKWARE APPNOTE, no zip64), read and written with the same header layouts.
 *
 * Reading: the files of an archive (stored or deflated entries), with limits, so an upload can never make
 * the process run out of memory: entry count, each entry's size and the total are bounded before and while
 * inflating (a zip bomb stops at the limit). Zip64, encrypted entries and other methods are refused with a
 * reason; a malformed archive throws ZipError, never something else.
 *
 * Writing: `writeZip` builds a small archive in memory (test bundles); `ZipStreamWriter` deflates entries
 * straight into a stream (an HTTP answer) with data descriptors, so an entry of any length up to 4 GiB
 * never sits in memory whole.
 */
import { Readable, Transform, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';

export class ZipError extends Error {
  override name = 'ZipError';
}

export interface ZipLimits {
  maxEntries: number;
  maxEntryBytes: number;
  maxTotalBytes: number;
}

export const DEFAULT_ZIP_LIMITS: ZipLimits = {
  maxEntries: 200,
  maxEntryBytes: 100 * 1024 * 1024,
  maxTotalBytes: 300 * 1024 * 1024,
};

const EOCD = 0x06054b50;
const CENTRAL = 0x02014b50;
const LOCAL = 0x04034b50;
const DATA_DESCRIPTOR = 0x08074b50;
const LOCAL_HEADER_BYTES = 30;
const CENTRAL_HEADER_BYTES = 46;
const EOCD_BYTES = 22;
const DATA_DESCRIPTOR_BYTES = 16;
/** General-purpose flags: bit 3, sizes and CRC follow the data; bit 11, the name is UTF-8. */
const FLAG_ENCRYPTED = 0x1;
const FLAG_DATA_DESCRIPTOR = 0x8;
const FLAG_UTF8 = 0x800;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
/** "Version needed to extract" 2.0: deflate. */
const ZIP_VERSION = 20;
/** Without zip64, sizes, offsets and counts must fit these. */
const MAX_U32 = 0xffffffff;
const MAX_U16 = 0xffff;

export function looksLikeZip(buf: Buffer): boolean {
  return buf.length >= 4 && buf.readUInt32LE(0) === LOCAL;
}

function findEndOfCentralDirectory(buf: Buffer): number {
  const lowest = Math.max(0, buf.length - EOCD_BYTES - MAX_U16);
  for (let i = buf.length - EOCD_BYTES; i >= lowest; i--) if (buf.readUInt32LE(i) === EOCD) return i;
  throw new ZipError('not a zip archive (no end-of-central-directory record)');
}

/** name → bytes of every file entry (directories skipped). */
export function readZip(buf: Buffer, limits: ZipLimits = DEFAULT_ZIP_LIMITS): Map<string, Buffer> {
  if (buf.length < EOCD_BYTES) throw new ZipError('not a zip archive (too short)');
  const eocd = findEndOfCentralDirectory(buf);
  const count = buf.readUInt16LE(eocd + 10);
  const cdSize = buf.readUInt32LE(eocd + 12);
  const cdOffset = buf.readUInt32LE(eocd + 16);
  if (count === MAX_U16 || cdOffset === MAX_U32) throw new ZipError('zip64 archives are not supported');
  if (count > limits.maxEntries)
    throw new ZipError(`the archive has ${count} entries (at most ${limits.maxEntries})`);
  if (cdOffset + cdSize > eocd) throw new ZipError('the central directory lies outside the archive');
  const out = new Map<string, Buffer>();
  let total = 0;
  let p = cdOffset;
  for (let k = 0; k < count; k++) {
    if (p + CENTRAL_HEADER_BYTES > eocd || buf.readUInt32LE(p) !== CENTRAL)
      throw new ZipError('corrupt central directory');
    const flags = buf.readUInt16LE(p + 8);
    const method = buf.readUInt16LE(p + 10);
    const crc = buf.readUInt32LE(p + 16);
    const compressed = buf.readUInt32LE(p + 20);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const localOffset = buf.readUInt32LE(p + 42);
    const name = buf.toString('utf8', p + CENTRAL_HEADER_BYTES, p + CENTRAL_HEADER_BYTES + nameLen);
    p += CENTRAL_HEADER_BYTES + nameLen + extraLen + commentLen;
    if (name.endsWith('/')) continue;
    if (flags & FLAG_ENCRYPTED) throw new ZipError(`${name}: encrypted entries are not supported`);
    if (compressed === MAX_U32 || size === MAX_U32 || localOffset === MAX_U32)
      throw new ZipError(`${name}: zip64 entries are not supported`);
    if (size > limits.maxEntryBytes)
      throw new ZipError(`${name}: ${size} bytes uncompressed (at most ${limits.maxEntryBytes})`);
    total += size;
    if (total > limits.maxTotalBytes)
      throw new ZipError(`the archive holds more than ${limits.maxTotalBytes} bytes uncompressed`);
    if (localOffset + LOCAL_HEADER_BYTES > buf.length || buf.readUInt32LE(localOffset) !== LOCAL)
      throw new ZipError(`${name}: corrupt local header`);
    const dataStart =
      localOffset +
      LOCAL_HEADER_BYTES +
      buf.readUInt16LE(localOffset + 26) +
      buf.readUInt16LE(localOffset + 28);
    if (dataStart + compressed > buf.length) throw new ZipError(`${name}: truncated entry`);
    const raw = buf.subarray(dataStart, dataStart + compressed);
    let data: Buffer;
    if (method === METHOD_STORED) data = Buffer.from(raw);
    else if (method === METHOD_DEFLATE) {
      try {
        data = zlib.inflateRawSync(raw, { maxOutputLength: Math.max(1, size) });
      } catch {
        throw new ZipError(`${name}: the compressed data is corrupt or larger than declared`);
      }
    } else throw new ZipError(`${name}: compression method ${method} is not supported (use deflate)`);
    if (data.length !== size) throw new ZipError(`${name}: size differs from the archive's directory`);
    if (zlib.crc32(data) !== crc) throw new ZipError(`${name}: checksum mismatch`);
    if (out.has(name)) throw new ZipError(`${name}: appears twice in the archive`);
    out.set(name, data);
  }
  return out;
}

/** What the central directory records of one written entry. */
interface WrittenEntry {
  name: Buffer;
  flags: number;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
}

function localHeader(e: WrittenEntry): Buffer {
  const h = Buffer.alloc(LOCAL_HEADER_BYTES);
  h.writeUInt32LE(LOCAL, 0);
  h.writeUInt16LE(ZIP_VERSION, 4);
  h.writeUInt16LE(e.flags, 6);
  h.writeUInt16LE(METHOD_DEFLATE, 8);
  // With a data descriptor (bit 3) CRC and sizes are zero here and follow the data.
  h.writeUInt32LE(e.crc, 14);
  h.writeUInt32LE(e.compressed, 18);
  h.writeUInt32LE(e.size, 22);
  h.writeUInt16LE(e.name.length, 26);
  return Buffer.concat([h, e.name]);
}

function dataDescriptor(e: WrittenEntry): Buffer {
  const d = Buffer.alloc(DATA_DESCRIPTOR_BYTES);
  d.writeUInt32LE(DATA_DESCRIPTOR, 0);
  d.writeUInt32LE(e.crc, 4);
  d.writeUInt32LE(e.compressed, 8);
  d.writeUInt32LE(e.size, 12);
  return d;
}

function centralHeader(e: WrittenEntry): Buffer {
  const h = Buffer.alloc(CENTRAL_HEADER_BYTES);
  h.writeUInt32LE(CENTRAL, 0);
  h.writeUInt16LE(ZIP_VERSION, 4);
  h.writeUInt16LE(ZIP_VERSION, 6);
  h.writeUInt16LE(e.flags, 8);
  h.writeUInt16LE(METHOD_DEFLATE, 10);
  h.writeUInt32LE(e.crc, 16);
  h.writeUInt32LE(e.compressed, 20);
  h.writeUInt32LE(e.size, 24);
  h.writeUInt16LE(e.name.length, 28);
  h.writeUInt32LE(e.offset, 42);
  return Buffer.concat([h, e.name]);
}

function endOfCentralDirectory(entries: number, cdBytes: number, cdOffset: number): Buffer {
  if (entries >= MAX_U16 || cdOffset + cdBytes >= MAX_U32)
    throw new ZipError('the archive is too large for a zip without zip64');
  const end = Buffer.alloc(EOCD_BYTES);
  end.writeUInt32LE(EOCD, 0);
  end.writeUInt16LE(entries, 8);
  end.writeUInt16LE(entries, 10);
  end.writeUInt32LE(cdBytes, 12);
  end.writeUInt32LE(cdOffset, 16);
  return end;
}

function assertFits(e: WrittenEntry): void {
  if (e.size >= MAX_U32 || e.compressed >= MAX_U32 || e.offset >= MAX_U32)
    throw new ZipError(`${e.name.toString('utf8')}: too large for a zip without zip64`);
}

/** A minimal zip writer (deflate), for bundles the tests and the generator produce. */
export function writeZip(files: ReadonlyMap<string, Buffer> | Record<string, Buffer | string>): Buffer {
  const entries = files instanceof Map ? [...files] : Object.entries(files);
  const parts: Buffer[] = [];
  const written: WrittenEntry[] = [];
  let offset = 0;
  for (const [name, content] of entries) {
    const data = Buffer.isBuffer(content) ? content : Buffer.from(content, 'utf8');
    const deflated = zlib.deflateRawSync(data);
    const e: WrittenEntry = {
      name: Buffer.from(name, 'utf8'),
      flags: FLAG_UTF8,
      crc: zlib.crc32(data),
      compressed: deflated.length,
      size: data.length,
      offset,
    };
    assertFits(e);
    const header = localHeader(e);
    parts.push(header, deflated);
    written.push(e);
    offset += header.length + deflated.length;
  }
  const cd = Buffer.concat(written.map(centralHeader));
  return Buffer.concat([...parts, cd, endOfCentralDirectory(written.length, cd.length, offset)]);
}

/**
 * Writes a zip archive into a stream entry by entry, deflating as it goes: each entry's CRC and sizes follow
 * its data (a data descriptor), so nothing is buffered beyond zlib's window and the stream's own buffer, and
 * the writer waits whenever the stream asks it to (backpressure). A stream closed early (a client that went
 * away) makes the pending write reject. The caller ends the stream after `finish()`.
 */
export class ZipStreamWriter {
  private offset = 0;
  private readonly entries: WrittenEntry[] = [];

  constructor(private readonly out: Writable) {}

  /** Adds one file from its chunks (strings are UTF-8); resolves to its uncompressed size. */
  async addFile(
    name: string,
    chunks: AsyncIterable<string | Buffer> | Iterable<string | Buffer>,
  ): Promise<number> {
    const e: WrittenEntry = {
      name: Buffer.from(name, 'utf8'),
      flags: FLAG_UTF8 | FLAG_DATA_DESCRIPTOR,
      crc: 0,
      compressed: 0,
      size: 0,
      offset: this.offset,
    };
    await this.write(localHeader(e));
    const measure = new Transform({
      transform(chunk: Buffer, _enc, done) {
        e.crc = zlib.crc32(chunk, e.crc);
        e.size += chunk.length;
        done(null, chunk);
      },
    });
    const forward = new Writable({
      write: (chunk: Buffer, _enc, done) => {
        e.compressed += chunk.length;
        this.write(chunk).then(() => done(), done);
      },
    });
    await pipeline(Readable.from(chunks, { objectMode: false }), measure, zlib.createDeflateRaw(), forward);
    assertFits(e);
    await this.write(dataDescriptor(e));
    this.entries.push(e);
    return e.size;
  }

  /** Writes the central directory; the archive is complete once this resolves. */
  async finish(): Promise<void> {
    const cdOffset = this.offset;
    const cd = Buffer.concat(this.entries.map(centralHeader));
    await this.write(Buffer.concat([cd, endOfCentralDirectory(this.entries.length, cd.length, cdOffset)]));
  }

  private async write(chunk: Buffer): Promise<void> {
    if (this.out.destroyed || this.out.writableEnded) throw new ZipError('the output stream was closed');
    this.offset += chunk.length;
    if (this.out.write(chunk)) return;
    const out = this.out;
    await new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        out.off('drain', onDrain);
        out.off('close', onClose);
        out.off('error', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onDrain = () => settle();
      const onClose = () => settle(new ZipError('the output stream was closed'));
      out.on('drain', onDrain);
      out.on('close', onClose);
      out.on('error', onClose);
    });
  }
}
