/**
 * The durable outbox: recognitions wait here until the server has answered for them.
 *
 * Layout in `<dir>`: append-only JSONL segments `seg-<n>.jsonl` and `ack.json` ({segment, offset}: the
 * first byte not yet answered for), written atomically (tmp + fsync + rename + dir fsync).
 *
 * - A record counts as taken once `append` returns: the line is written and fsync'ed.
 * - A crash mid-append leaves at most a partial last line without '\n'; `open` truncates it (that append
 *   never returned, so nothing taken is lost).
 * - A crash after an upload but before the ack re-sends that batch on restart: the server answers
 *   `duplicate` for event ids it already has, so nothing is counted twice.
 * - Records the server `rejected` go to `dead-letter.jsonl` with the reason (never retried); their count and
 *   the newest reason go out with every heartbeat, and `npm run edge -- dead-letters` lists them.
 * - Bounded: beyond `maxRecords` pending, new records are refused and counted in `dropped`.
 *
 * All file operations are synchronous so that an append and an ack never interleave within the process.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { RecognitionRecord } from '../lib/contracts';
import { appendDurable, fsyncDir, readJsonFile, writeFileAtomic } from './durableFile';

export type OutboxRecord = RecognitionRecord;

export interface OutboxPosition {
  segment: number;
  offset: number;
}

export interface OutboxBatch {
  records: OutboxRecord[];
  /** Lines that could not be parsed (disk corruption): dead-lettered when the batch is acknowledged. */
  corrupt: string[];
  end: OutboxPosition;
}

/** What the outbox needs of the server's answer for one record (the contract's RecordOutcome fits it). */
export type RecordOutcome =
  | { event_id: string; status: 'accepted' | 'duplicate' }
  | { event_id: string; status: 'rejected'; reason: string };

export interface DeadLetter {
  record: OutboxRecord | { raw: string };
  reason: string;
  at: string;
}

export interface OutboxOptions {
  maxRecords?: number;
  segmentMaxBytes?: number;
}

export interface AppendResult {
  taken: number;
  dropped: number;
}

export interface DrainReport {
  batches: number;
  accepted: number;
  duplicate: number;
  rejected: number;
}

const SEGMENT = /^seg-(\d{12})\.jsonl$/;

export interface DeadLetterSummary {
  /** Records in the dead-letter file. */
  count: number;
  /** The newest of them. */
  last?: DeadLetter;
}

export class Outbox {
  private pending = 0;
  private droppedTotal = 0;
  private deadLetterCount: number;
  private lastDeadLetter: DeadLetter | undefined;
  private active: number;
  private activeBytes: number;
  private ackPos: OutboxPosition;
  private readonly maxRecords: number;
  private readonly segmentMaxBytes: number;
  private readonly listeners = new Set<(depth: number) => void>();

  private constructor(
    readonly dir: string,
    opts: OutboxOptions,
  ) {
    this.maxRecords = opts.maxRecords ?? 200_000;
    this.segmentMaxBytes = opts.segmentMaxBytes ?? 1 << 20;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    let segments = this.segments();
    const saved = readJsonFile(this.ackFile) as Partial<OutboxPosition> | undefined;
    this.ackPos =
      saved && Number.isInteger(saved.segment) && Number.isInteger(saved.offset)
        ? { segment: saved.segment as number, offset: saved.offset as number }
        : { segment: segments[0] ?? 1, offset: 0 };
    // Segments wholly before the ack were answered for; a crash may have left them undeleted.
    for (const s of segments.filter((n) => n < this.ackPos.segment))
      fs.rmSync(this.segmentPath(s), { force: true });
    segments = segments.filter((n) => n >= this.ackPos.segment);
    if (segments.length === 0) {
      this.createSegment(this.ackPos.segment);
      segments = [this.ackPos.segment];
    }
    this.active = segments[segments.length - 1] as number;
    this.activeBytes = this.truncatePartialTail(this.segmentPath(this.active));
    for (const s of segments) {
      const text = fs.readFileSync(this.segmentPath(s), 'utf8');
      const from = s === this.ackPos.segment ? Math.min(this.ackPos.offset, Buffer.byteLength(text)) : 0;
      this.pending += countLines(Buffer.from(text).subarray(from));
    }
    const dead = fs.existsSync(this.deadLetterFile) ? fs.readFileSync(this.deadLetterFile) : Buffer.alloc(0);
    this.deadLetterCount = countLines(dead);
    this.lastDeadLetter = lastDeadLetterIn(dead);
  }

  static open(dir: string, opts: OutboxOptions = {}): Outbox {
    return new Outbox(dir, opts);
  }

  get depth(): number {
    return this.pending;
  }

  get dropped(): number {
    return this.droppedTotal;
  }

  get deadLetterFile(): string {
    return deadLetterFileIn(this.dir);
  }

  /** Called with the new depth after every append (the uploader drains early when a batch is full). */
  onAppend(listener: (depth: number) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Durably takes the records (one write + fsync); those beyond the bound are dropped and counted. */
  append(records: readonly OutboxRecord[]): AppendResult {
    const room = Math.max(0, this.maxRecords - this.pending);
    const taken = records.slice(0, room);
    const dropped = records.length - taken.length;
    this.droppedTotal += dropped;
    if (taken.length > 0) {
      const text = taken.map((r) => `${JSON.stringify(r)}\n`).join('');
      appendDurable(this.segmentPath(this.active), text);
      this.activeBytes += Buffer.byteLength(text);
      this.pending += taken.length;
      if (this.activeBytes >= this.segmentMaxBytes) {
        this.active += 1;
        this.createSegment(this.active);
        this.activeBytes = 0;
      }
      for (const l of this.listeners) l(this.pending);
    }
    return { taken: taken.length, dropped };
  }

  /** The oldest unanswered records, at most `limit`, and the position just after them. */
  peek(limit: number): OutboxBatch {
    const records: OutboxRecord[] = [];
    const corrupt: string[] = [];
    let pos = { ...this.ackPos };
    while (records.length + corrupt.length < limit) {
      const file = this.segmentPath(pos.segment);
      const buf = fs.existsSync(file) ? fs.readFileSync(file) : Buffer.alloc(0);
      let offset = pos.offset;
      while (records.length + corrupt.length < limit) {
        const nl = buf.indexOf(0x0a, offset);
        if (nl < 0) break;
        const line = buf.subarray(offset, nl).toString('utf8');
        offset = nl + 1;
        try {
          records.push(JSON.parse(line) as OutboxRecord);
        } catch {
          corrupt.push(line);
        }
      }
      pos = { segment: pos.segment, offset };
      if (offset < buf.length || pos.segment >= this.active) break;
      if (records.length + corrupt.length >= limit) break;
      pos = { segment: pos.segment + 1, offset: 0 };
    }
    return { records, corrupt, end: pos };
  }

  /** The server has answered for everything before `end`: persist the ack and free finished segments. */
  ack(end: OutboxPosition, answered: number): void {
    let pos = end;
    // At the end of a finished segment, move to the next one so the old file can go.
    if (pos.segment < this.active && pos.offset >= fs.statSync(this.segmentPath(pos.segment)).size) {
      pos = { segment: pos.segment + 1, offset: 0 };
    }
    writeFileAtomic(this.ackFile, JSON.stringify(pos));
    for (let s = this.ackPos.segment; s < pos.segment; s++) fs.rmSync(this.segmentPath(s), { force: true });
    this.ackPos = pos;
    this.pending = Math.max(0, this.pending - answered);
  }

  deadLetter(entries: readonly DeadLetter[]): void {
    if (entries.length === 0) return;
    appendDurable(this.deadLetterFile, entries.map((e) => `${JSON.stringify(e)}\n`).join(''));
    this.deadLetterCount += entries.length;
    this.lastDeadLetter = entries[entries.length - 1];
  }

  /** How many records were dead-lettered (ever, on this device) and the newest: every heartbeat reports it. */
  get deadLetters(): DeadLetterSummary {
    return {
      count: this.deadLetterCount,
      ...(this.lastDeadLetter ? { last: this.lastDeadLetter } : {}),
    };
  }

  readDeadLetters(): DeadLetter[] {
    return readDeadLetterFile(this.deadLetterFile);
  }

  /**
   * Sends batches until the outbox is empty. `send` returns one outcome per record or throws (the caller
   * retries with backoff inside it); rejected records are dead-lettered before the ack.
   */
  async drain(
    send: (records: OutboxRecord[]) => Promise<RecordOutcome[]>,
    opts: { batchSize?: number; signal?: AbortSignal } = {},
  ): Promise<DrainReport> {
    const report: DrainReport = { batches: 0, accepted: 0, duplicate: 0, rejected: 0 };
    const batchSize = Math.min(500, opts.batchSize ?? 500);
    for (;;) {
      if (opts.signal?.aborted) break;
      const batch = this.peek(batchSize);
      const count = batch.records.length + batch.corrupt.length;
      if (count === 0) break;
      const outcomes = batch.records.length > 0 ? await send(batch.records) : [];
      const byId = new Map(outcomes.map((o) => [o.event_id, o]));
      const now = new Date().toISOString();
      const dead: DeadLetter[] = batch.corrupt.map((raw) => ({
        record: { raw },
        reason: 'unreadable outbox line',
        at: now,
      }));
      for (const r of batch.records) {
        const o = byId.get(r.event_id);
        if (!o) dead.push({ record: r, reason: 'the server returned no result for this record', at: now });
        else if (o.status === 'rejected') dead.push({ record: r, reason: o.reason, at: now });
        else report[o.status] += 1;
      }
      report.rejected += dead.length;
      this.deadLetter(dead);
      this.ack(batch.end, count);
      report.batches += 1;
    }
    return report;
  }

  private get ackFile(): string {
    return path.join(this.dir, 'ack.json');
  }

  private segmentPath(n: number): string {
    return path.join(this.dir, `seg-${String(n).padStart(12, '0')}.jsonl`);
  }

  private segments(): number[] {
    return fs
      .readdirSync(this.dir)
      .map((f) => SEGMENT.exec(f)?.[1])
      .filter((m): m is string => m !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
  }

  private createSegment(n: number): void {
    const fd = fs.openSync(this.segmentPath(n), 'a', 0o600);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fsyncDir(this.dir);
  }

  /** Cuts a trailing line without '\n' (an append the crash interrupted); returns the file's size. */
  private truncatePartialTail(file: string): number {
    const buf = fs.readFileSync(file);
    const end = buf.lastIndexOf(0x0a) + 1;
    if (end < buf.length) {
      const fd = fs.openSync(file, 'r+');
      try {
        fs.ftruncateSync(fd, end);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
    }
    return end;
  }
}

export function deadLetterFileIn(outboxDir: string): string {
  return path.join(outboxDir, 'dead-letter.jsonl');
}

/**
 * The dead letters in a file, oldest first, read without opening the outbox (the service may be running).
 * A line that cannot be parsed is shown raw rather than hidden.
 */
export function readDeadLetterFile(file: string): DeadLetter[] {
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as DeadLetter;
      } catch {
        return { record: { raw: line }, reason: 'unreadable line in the dead-letter file', at: '' };
      }
    });
}

/** The last complete line of the dead-letter file, parsed (undefined when there is none or it is unreadable). */
function lastDeadLetterIn(buf: Buffer): DeadLetter | undefined {
  const end = buf.lastIndexOf(0x0a);
  if (end < 0) return undefined;
  // (lastIndexOf with a negative offset would count from the end.)
  const start = end === 0 ? 0 : buf.lastIndexOf(0x0a, end - 1) + 1;
  try {
    return JSON.parse(buf.subarray(start, end).toString('utf8')) as DeadLetter;
  } catch {
    return undefined;
  }
}

function countLines(buf: Buffer): number {
  let n = 0;
  for (let i = buf.indexOf(0x0a); i >= 0; i = buf.indexOf(0x0a, i + 1)) n++;
  return n;
}
