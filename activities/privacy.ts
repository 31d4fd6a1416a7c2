/**
 * Privacy maintenance: re-encrypt face embeddings under the active key after a key rotation, purge raw
 * recognition events past their retention, and prune the uploaded rosters of finished OneRoster imports. All
 * work in bounded steps and are idempotent, so Temporal can retry them and operators can run them any time.
 */
import type { Knex } from 'knex';
import { EmbeddingCryptoError, type EmbeddingCipher } from '../lib/crypto/embeddings';
import { pruneRosterImportRuns, type RosterImportPruneResult } from '../lib/oneroster/runs';

export type { RosterImportPruneResult };

export interface ReencryptBatchInput {
  /** Only rows with a larger id (the workflow's cursor); 0 to start. */
  afterId: number;
  batchSize: number;
}

export interface ReencryptBatchResult {
  reencrypted: number;
  /** Rows that could not be opened (unknown key id, tampered): left untouched and logged by the caller. */
  unreadable: number;
  unreadableIds: string[];
  /** Largest id looked at; the next batch starts after it. */
  lastId: number;
  done: boolean;
}

/**
 * One batch of rows not yet under the active key, in id order. Rows are locked (SKIP LOCKED, so two runs do
 * not fight) and each update is conditional on the old key id, so a row is never sealed twice.
 */
export async function reencryptEmbeddingsBatch(
  db: Knex,
  cipher: EmbeddingCipher,
  input: ReencryptBatchInput,
): Promise<ReencryptBatchResult> {
  return db.transaction(async (trx) => {
    const rows: {
      id: string | number;
      student_id: string;
      model_id: string;
      key_id: string;
      vector: Buffer;
    }[] = await trx('face_embeddings')
      .whereNot('key_id', cipher.activeKeyId)
      .where('id', '>', input.afterId)
      .orderBy('id')
      .limit(input.batchSize)
      .forUpdate()
      .skipLocked()
      .select('id', 'student_id', 'model_id', 'key_id', 'vector');
    let reencrypted = 0;
    const unreadableIds: string[] = [];
    for (const row of rows) {
      const owner = { studentId: row.student_id, modelId: row.model_id };
      let sealed;
      try {
        sealed = cipher.seal(cipher.open({ keyId: row.key_id, sealed: row.vector }, owner), owner);
      } catch (err) {
        if (!(err instanceof EmbeddingCryptoError)) throw err;
        unreadableIds.push(String(row.id));
        continue;
      }
      reencrypted += await trx('face_embeddings')
        .where({ id: row.id, key_id: row.key_id })
        .update({ vector: sealed.sealed, key_id: sealed.keyId });
    }
    const lastId = rows.length > 0 ? Number(rows[rows.length - 1]!.id) : input.afterId;
    return {
      reencrypted,
      unreadable: unreadableIds.length,
      unreadableIds,
      lastId,
      done: rows.length < input.batchSize,
    };
  });
}

/** How many rows still wait for re-encryption (for operators and tests). */
export async function embeddingsNotUnderActiveKey(db: Knex, cipher: EmbeddingCipher): Promise<number> {
  const [{ n }] = await db('face_embeddings')
    .whereNot('key_id', cipher.activeKeyId)
    .count<{ n: string }[]>('* as n');
  return Number(n);
}

/**
 * Deletes raw recognition events received more than `retentionDays` ago, `batchSize` rows per statement
 * (short locks on a busy table). Marks in attendance_logs are kept: they are the attendance record; the raw
 * events are only the evidence trail and the API's duplicate filter for retried uploads.
 */
export async function purgeRecognitionEvents(
  db: Knex,
  retentionDays: number,
  batchSize = 5000,
): Promise<{ deleted: number; cutoff: string }> {
  const cutoff = new Date(Date.now() - retentionDays * 86_400_000).toISOString();
  let deleted = 0;
  for (;;) {
    const n = await db('recognition_events')
      .whereIn(
        'event_id',
        db('recognition_events').where('received_at', '<', cutoff).limit(batchSize).select('event_id'),
      )
      .delete();
    deleted += n;
    if (n < batchSize) return { deleted, cutoff };
  }
}

export interface PrivacySettings {
  cipher: EmbeddingCipher;
  /** RECOGNITION_RETENTION_DAYS */
  retentionDays: number;
  /** ROSTER_IMPORT_RETENTION_DAYS */
  rosterImportRetentionDays: number;
  /** The clock retention is judged by; tests fix it. */
  now?: () => Date;
}

export function createPrivacyActivities(db: Knex, deps: PrivacySettings) {
  return {
    async reencryptEmbeddingsBatch(input: ReencryptBatchInput): Promise<ReencryptBatchResult> {
      return reencryptEmbeddingsBatch(db, deps.cipher, input);
    },
    /** For a maintenance Schedule: purge with RECOGNITION_RETENTION_DAYS unless the input overrides it. */
    async purgeRecognitionEvents(
      input: { retentionDays?: number } = {},
    ): Promise<{ deleted: number; cutoff: string }> {
      return purgeRecognitionEvents(db, input.retentionDays ?? deps.retentionDays);
    },
    /**
     * For the same Schedule: deletes the files and staging rows of OneRoster import runs finished more than
     * ROSTER_IMPORT_RETENTION_DAYS ago (unless the input overrides it); run rows and change audits stay.
     */
    async pruneRosterImports(input: { retentionDays?: number } = {}): Promise<RosterImportPruneResult> {
      return pruneRosterImportRuns(
        db,
        input.retentionDays ?? deps.rosterImportRetentionDays,
        deps.now?.() ?? new Date(),
      );
    },
  };
}

export type PrivacyActivities = ReturnType<typeof createPrivacyActivities>;
