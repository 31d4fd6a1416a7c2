import type { Knex } from 'knex';

/**
 * TOTP secrets sealed at rest (lib/crypto/totpSecrets.ts). users.totp_secret stays one text column with a
 * self-describing value: `v1:<keyId>:<base64>` (AES-256-GCM under SECRET_KEYS, bound to the user id), or,
 * in rows written before this change, the base32 secret in the clear. Those legacy rows are not sealed
 * here (migrations do not hold the keys); the API still reads them and seals each one at the account's next
 * successful code. The constraint keeps anything else out of the column.
 *
 * down drops the constraint only; values already sealed stay sealed (without the key a migration cannot
 * open them), so code from before this change cannot read them: reset those accounts' MFA after a rollback.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE users ADD CONSTRAINT users_totp_secret_form CHECK (
      totp_secret IS NULL
      OR totp_secret ~ '^v1:[A-Za-z0-9_-]{1,32}:[A-Za-z0-9+/]+={0,2}$'
      OR totp_secret ~ '^[A-Z2-7]+=*$'
    );
    COMMENT ON COLUMN users.totp_secret IS
      'v1:<keyId>:<base64> sealed under SECRET_KEYS (AAD: user id); legacy clear base32 until the next code';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    COMMENT ON COLUMN users.totp_secret IS NULL;
    ALTER TABLE users DROP CONSTRAINT users_totp_secret_form;
  `);
}
