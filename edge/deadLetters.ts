/**
 * `npm run edge -- dead-letters [--json]`: the records the server rejected (or the outbox could not read)
 * and why, oldest first, from `<EDGE_DATA_DIR>/outbox/dead-letter.jsonl`. Read-only: it never opens the
 * outbox, so it is safe while the service runs. The server sees only their count and the newest reason
 * (heartbeat); the records themselves stay on the device.
 */
import path from 'node:path';
import { deadLetterFileIn, readDeadLetterFile, type DeadLetter } from './outbox';

export const DEAD_LETTERS_USAGE = 'usage: npm run edge -- dead-letters [--json]';

/** One line: when it was dead-lettered, the sighting (student, time, class, event id), why. */
export function formatDeadLetter(d: DeadLetter): string {
  const r = d.record;
  const what =
    'raw' in r
      ? `unreadable outbox line ${JSON.stringify(r.raw.slice(0, 120))}`
      : [r.student_id, r.timestamp, r.session_id ?? '(no session)', r.event_id].join('  ');
  return `${d.at || '?'}  ${what}  — ${d.reason}`;
}

/** Runs the command; returns the process exit code (2: usage error). */
export function deadLettersCommand(
  args: readonly string[],
  dataDir: string,
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  const json = args.includes('--json');
  const unknown = args.filter((a) => a !== '--json');
  if (unknown.length > 0) {
    err(`unknown argument ${unknown[0]}\n${DEAD_LETTERS_USAGE}`);
    return 2;
  }
  const file = deadLetterFileIn(path.join(dataDir, 'outbox'));
  const dead = readDeadLetterFile(file);
  for (const d of dead) out(json ? JSON.stringify(d) : formatDeadLetter(d));
  err(`${dead.length} dead-lettered record${dead.length === 1 ? '' : 's'} in ${file}`);
  return 0;
}
