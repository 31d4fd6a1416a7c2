// Every workflow the worker bundles (workflowsPath points here).
export { classSession } from './classSession';
export { enrollStudent } from './enrollStudent';
