/**
 * RFC 4180 CSV reading for OneRoster files: quoted fields with "" escapes and line breaks inside quotes,
 * CRLF or LF records, a UTF-8 byte-order mark tolerated. Each record keeps the physical line it starts on,
 * so a validation message can say "users.csv line 12" and mean the line a person sees in an editor.
 */

export interface CsvRecord {
  /** 1-based physical line the record starts on. */
  line: number;
  fields: string[];
}

export interface CsvProblem {
  line: number;
  reason: string;
}

export interface CsvTable {
  header: string[];
  records: CsvRecord[];
  problems: CsvProblem[];
}

/** Splits text into records; malformed quoting is reported per record rather than thrown. */
export function parseCsv(input: string): CsvTable {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  const records: CsvRecord[] = [];
  const problems: CsvProblem[] = [];
  let line = 1;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    let field = '';
    let inQuotes = false;
    let quoted = false;
    let bad: string | undefined;
    for (;;) {
      if (i >= n) {
        if (inQuotes) bad ??= 'a quoted field is not closed before the end of the file';
        fields.push(field);
        break;
      }
      const c = text[i]!;
      if (inQuotes) {
        if (c === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
          } else {
            inQuotes = false;
            i++;
          }
        } else {
          if (c === '\n') line++;
          field += c;
          i++;
        }
        continue;
      }
      if (c === ',') {
        fields.push(field);
        field = '';
        quoted = false;
        i++;
      } else if (c === '\r' && text[i + 1] === '\n') {
        fields.push(field);
        i += 2;
        line++;
        break;
      } else if (c === '\n' || c === '\r') {
        fields.push(field);
        i++;
        line++;
        break;
      } else if (c === '"') {
        if (field.length === 0 && !quoted) {
          inQuotes = true;
          quoted = true;
        } else {
          bad ??= 'a double quote inside an unquoted field (quote the field and double the quote)';
          field += c;
        }
        i++;
      } else {
        if (quoted) bad ??= 'text after the closing quote of a field';
        field += c;
        i++;
      }
    }
    // A blank line (one empty field) is not a record.
    if (fields.length === 1 && fields[0] === '' && !quoted) continue;
    if (bad) problems.push({ line: start, reason: bad });
    records.push({ line: start, fields });
  }
  const [head, ...rest] = records;
  return { header: head ? head.fields.map((h) => h.trim()) : [], records: rest, problems };
}

/** Quotes a field when it needs it (for writing bundles). */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(values: readonly string[]): string {
  return values.map(csvField).join(',');
}
