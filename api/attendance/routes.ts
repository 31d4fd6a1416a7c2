import type { Router } from 'express';
import { featureRouter } from '../router';
import { requireDevice } from '../auth/device';
import { AppError } from '../errors';
import { parseOr400 } from '../validate';
import { attendanceBatchSchema } from '../../lib/contracts';
import { acceptBatch, type AttendanceDeps } from './service';

export function attendanceRoutes(deps: AttendanceDeps): Router {
  const router = featureRouter();
  router.post('/api/v1/attendance', requireDevice(deps.db), async (req, res) => {
    const batch = parseOr400(attendanceBatchSchema, req.body, 'body');
    const result = await acceptBatch(deps, req.device!, batch);
    if (result.accepted + result.duplicates === 0) {
      const first = result.results[0];
      const why = first?.status === 'rejected' ? first.reason : 'no record was accepted';
      throw new AppError(
        422,
        'no_records_accepted',
        `no record in the batch was accepted (first: ${why})`,
        result,
      );
    }
    // 202: every accepted record is committed to the inbox; the relay delivers it to its session workflow.
    res.status(202).json(result);
  });
  return router;
}
