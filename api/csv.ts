import type { Request, Response } from 'express';

/** Clients ask for CSV with `Accept: text/csv` or `?format=csv`. */
export function wantsCsv(req: Request): boolean {
  return (
    req.query.format === 'csv' ||
    (req.accepts(['application/json', 'text/csv']) === 'text/csv' && !req.query.format)
  );
}

/** One CSV field: quoted when needed, spreadsheet formulas neutralised. */
export function csvCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  const s = v instanceof Date ? v.toISOString() : String(v);
  // Quote when needed; neutralise spreadsheet formulas (CSV injection) with a leading apostrophe.
  const safe = /^[=+\-@\t\r]/.test(s) ? `'${s}` : s;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One CSV record with its CRLF, from values in column order. */
export function csvRecord(values: readonly unknown[]): string {
  return values.map(csvCell).join(',') + '\r\n';
}

export function toCsv(columns: string[], rows: Record<string, unknown>[]): string {
  return csvRecord(columns) + rows.map((r) => csvRecord(columns.map((c) => r[c]))).join('');
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
