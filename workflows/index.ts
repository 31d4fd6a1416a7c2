// Every workflow the worker bundles (workflowsPath points here).
export { classSession } from './classSession';
export { launchClassSession } from './launchClassSession';
export { syncTimetable } from './syncTimetable';
export { enrollStudent } from './enrollStudent';
