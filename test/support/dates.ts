/**
 * Calendar dates for tests, always relative to the clock the test runs under: the suite must pass on
 * any date (a test that hard-coded November broke CI on the first of December, when the month's
 * partition was no longer created by the migration).
 */

/** 'YYYY-MM-DD' of a UTC date. */
export function isoDate(d: Date): string {
  return d.toISOString().slice(0, 10);
}

/**
 * The UTC date of the given ISO weekday (1 = Monday … 7 = Sunday) in the week `weeksBack` weeks before
 * the week of `now`. `weeksBack` ≥ 1 always lies in the past.
 */
export function weekdayWeeksAgo(isoWeekday: number, weeksBack: number, now = new Date()): string {
  const today = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
  const todayIso = ((today.getUTCDay() + 6) % 7) + 1;
  const monday = today.getTime() - (todayIso - 1) * 86_400_000 - weeksBack * 7 * 86_400_000;
  return isoDate(new Date(monday + (isoWeekday - 1) * 86_400_000));
}

/**
 * A fixed-offset time zone in which `now` is about midday, so that classes placed an hour or two around
 * now never cross local midnight, whatever the hour the suite runs at. (`Etc/GMT-3` is three hours ahead
 * of UTC: the sign is POSIX's.)
 */
export function middayZone(now = new Date()): {
  timezone: string;
  localTime(d: Date): string;
  localDate(d: Date): string;
} {
  const hours = 12 - now.getUTCHours();
  const offsetMs = hours * 3_600_000;
  const local = (d: Date) => new Date(d.getTime() + offsetMs).toISOString();
  return {
    timezone: hours === 0 ? 'UTC' : `Etc/GMT${hours > 0 ? '-' : '+'}${Math.abs(hours)}`,
    localTime: (d) => local(d).slice(11, 16),
    localDate: (d) => local(d).slice(0, 10),
  };
}
