/**
 * Postgres text and jsonb cannot hold the NUL character: a value carrying one makes the whole statement
 * fail (SQLSTATE 22021/22P05) on every retry. Free text that must be stored whatever it holds (an audit
 * reason, an error message kept for an operator) goes through this: NUL becomes the visible `\0`, and the
 * length is capped.
 */
export function storableText(value: string, maxLength = 2000): string {
  return value.replace(/\u0000/g, '\\0').slice(0, maxLength);
}
