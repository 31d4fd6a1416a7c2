/**
 * After an EMBEDDING_KEYS rotation (new key added and made active, old key still listed): walks
 * face_embeddings in id order and re-seals every row under the active key, one batch per activity. Safe to
 * start again at any time (id `maintenance:reencrypt-embeddings`); continues as new on long tables.
 */
import { continueAsNew, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { PrivacyActivities } from '../activities/privacy';

const { reencryptEmbeddingsBatch } = proxyActivities<PrivacyActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumInterval: '1 minute', maximumAttempts: 20 },
});

export const REENCRYPT_WORKFLOW_ID = 'maintenance:reencrypt-embeddings';

export interface ReencryptInput {
  batchSize?: number;
  afterId?: number;
  totals?: ReencryptTotals;
}

export interface ReencryptTotals {
  reencrypted: number;
  unreadable: number;
  batches: number;
}

export async function reencryptEmbeddings(input: ReencryptInput = {}): Promise<ReencryptTotals> {
  const batchSize = input.batchSize ?? 200;
  let afterId = input.afterId ?? 0;
  const totals: ReencryptTotals = { ...(input.totals ?? { reencrypted: 0, unreadable: 0, batches: 0 }) };
  for (;;) {
    const r = await reencryptEmbeddingsBatch({ afterId, batchSize });
    totals.reencrypted += r.reencrypted;
    totals.unreadable += r.unreadable;
    totals.batches++;
    if (r.unreadable > 0)
      log.warn('embeddings that could not be opened were left as they are', { ids: r.unreadableIds });
    if (r.done) return totals;
    afterId = r.lastId;
    if (workflowInfo().continueAsNewSuggested)
      await continueAsNew<typeof reencryptEmbeddings>({ batchSize, afterId, totals });
  }
}
