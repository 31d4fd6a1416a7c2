/**
 * Workflow time. Inside the workflow sandbox `Date` is replaced by the SDK with the time of the current
 * workflow task, replayed from history, so this is deterministic; outside a workflow it is wall time.
 */
export function workflowNowMs(): number {
  return new Date().getTime();
}
