// Every workflow the worker bundles (workflowsPath points here).
export { classSession } from './classSession';
export { launchClassSession } from './launchClassSession';
export { syncTimetable } from './syncTimetable';
export { enrollStudent } from './enrollStudent';
export { reencryptEmbeddings } from './reencryptEmbeddings';
export { purgeRecognitionEvents } from './purgeRecognitionEvents';
export { device } from './device';
export { ensurePartitions } from './ensurePartitions';
export { backupDatabase } from './backupDatabase';
export { restoreDatabase } from './restoreDatabase';
export { rosterImport } from './rosterImport';
