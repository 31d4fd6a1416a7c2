import type { Request, Response } from 'express';

/** Clients ask for CSV with `Accept: text/csv` or `?format=csv`. */
export function wantsCsv(req: Request): boolean {
  return (
    req.query.format === 'csv' ||
    (req.accepts(['application/json', 'text/csv']) === 'text/csv' && !req.query.format)
  );
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  // Quote when needed; neutralise spreadsheet formulas (CSV injection) with a leading apostrophe.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  return (
    [columns.join(','), ...rows.map((r) => columns.map((c) => cell(r[c])).join(','))].join('\r\n') + '\r\n'
  );
}

export function sendTable(
  req: Request,
  res: Response,
  filename: string,
  columns: string[],
  rows: Record<string, unknown>[],
  json: unknown,
): void {
  if (wantsCsv(req)) {
    res.setHeader('Content-Disposition', `attachment; filename="${filename}.csv"`);
    res.type('text/csv').send(toCsv(columns, rows));
  } else {
    res.json(json);
  }
}
