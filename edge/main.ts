/**
 * `npm run edge`: the Pi client; `npm run edge -- dead-letters [--json]` lists the records the server
 * rejected (edge/deadLetters.ts). Exit codes (systemd restarts on failure): 0 stopped by a signal,
 * 78 invalid configuration (EX_CONFIG; fix /etc/rollcall/edge.env, or a model manifest without calibrated
 * recognition rules and no RECOGNITION_* set), 69 camera unavailable (EX_UNAVAILABLE),
 * 2 unknown command, 1 anything else.
 */
import pino from 'pino';
import { edgeDataDir, loadEdgeConfig, EdgeConfigError } from './config';
import { deadLettersCommand } from './deadLetters';
import { startEdge } from './app';
import { SettingsError } from './settings';
import { CameraUnavailableError } from './sources/types';

async function main(): Promise<number> {
  const [command, ...args] = process.argv.slice(2);
  if (command === 'dead-letters') {
    return deadLettersCommand(
      args,
      edgeDataDir(),
      (l) => process.stdout.write(`${l}\n`),
      (l) => process.stderr.write(`${l}\n`),
    );
  }
  if (command !== undefined) {
    process.stderr.write(`unknown command ${command}\nusage: npm run edge [-- dead-letters [--json]]\n`);
    return 2;
  }
  let cfg;
  try {
    cfg = loadEdgeConfig();
  } catch (err) {
    if (err instanceof EdgeConfigError) {
      process.stderr.write(`${err.message}\n`);
      return 78;
    }
    throw err;
  }
  const log = pino({ level: cfg.LOG_LEVEL, name: 'rollcall-edge' });
  let app;
  try {
    app = await startEdge(cfg, { log });
  } catch (err) {
    if (err instanceof CameraUnavailableError) {
      log.fatal(err.message);
      return 69;
    }
    if (err instanceof SettingsError) {
      log.fatal(err.message);
      return 78;
    }
    throw err;
  }
  const started = app;
  const stop = () => void started.stop();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    await started.done;
    return 0;
  } catch (err) {
    log.fatal({ err }, 'edge stopped on an error');
    return err instanceof CameraUnavailableError ? 69 : 1;
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
