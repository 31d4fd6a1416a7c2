/**
 * CPU time per process group, from /proc (Linux): the benchmark's per-batch CPU budget. Wall-clock figures on
 * a shared machine move with whatever else runs; CPU seconds spent by each of our processes do not.
 *
 * A group is a root process and all its descendants (a Postgres postmaster and its backends, the Temporal
 * server, a node process and its threads). Time of descendants that exited is counted through the root's
 * cutime/cstime. `classify` may split a group by each process's command line (Postgres backends name their
 * database there).
 */
import fs from 'node:fs';

export interface CpuGroup {
  name: string;
  pid: number;
  /** A sub-group name for a descendant (from its command line), or undefined to keep the group's name. */
  classify?: (cmdline: string) => string | undefined;
}

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, clock ticks. */
  own: number;
  /** cutime + cstime of reaped children, clock ticks. */
  reaped: number;
}

/** Linux reports in USER_HZ, 100 on every mainstream kernel. */
const TICK_MS = 10;

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: parse after its last ')'.
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return {
      pid,
      ppid: Number(f[1]),
      own: Number(f[11]) + Number(f[12]),
      reaped: Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined;
  }
}

function cmdlineOf(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

/** CPU milliseconds spent so far, per group name. */
export function sampleCpu(groups: readonly CpuGroup[]): Map<string, number> {
  const stats = new Map<number, ProcStat>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const s = readStat(Number(entry));
    if (s) stats.set(s.pid, s);
  }
  const roots = new Map(groups.map((g) => [g.pid, g]));
  const out = new Map<string, number>(groups.map((g) => [g.name, 0]));
  const add = (name: string, ticks: number) => out.set(name, (out.get(name) ?? 0) + ticks * TICK_MS);
  for (const s of stats.values()) {
    // The nearest ancestor (or self) that is a group's root.
    let at: ProcStat | undefined = s;
    while (at && !roots.has(at.pid)) at = stats.get(at.ppid);
    if (!at) continue;
    const group = roots.get(at.pid)!;
    if (s.pid === group.pid) add(group.name, s.own + s.reaped);
    else add(group.classify?.(cmdlineOf(s.pid)) ?? group.name, s.own);
  }
  return out;
}

/** `after − before` per name, sorted by the largest share. */
export function cpuDelta(before: Map<string, number>, after: Map<string, number>): [string, number][] {
  return [...after]
    .map(([name, ms]): [string, number] => [name, ms - (before.get(name) ?? 0)])
    .sort((a, b) => b[1] - a[1]);
}

/** CPU milliseconds the whole machine has been busy (every process, ours or not), from /proc/stat. */
export function machineBusyMs(): number {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …: busy is all but idle and iowait.
  const [user, nice, system, , , irq, softirq, steal] = f;
  return (user + nice + system + irq + softirq + (steal ?? 0)) * TICK_MS;
}
