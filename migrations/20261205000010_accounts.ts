import type { Knex } from 'knex';

/**
 * Accounts (api/auth/): users are disabled, never deleted (courses and audit rows name them); a token issued
 * before `tokens_valid_after` (password changed or reset, account disabled) is refused; TOTP MFA with the
 * last accepted step (no code is accepted twice) and single-use recovery codes; invite and reset tokens
 * stored as SHA-256 only, single use, with an expiry.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE users
      ADD COLUMN disabled_at timestamptz,
      ADD COLUMN tokens_valid_after timestamptz,
      ADD COLUMN password_changed_at timestamptz,
      ADD COLUMN last_login_at timestamptz,
      ADD COLUMN totp_secret text,
      ADD COLUMN totp_confirmed_at timestamptz,
      ADD COLUMN totp_last_step bigint,
      ADD CONSTRAINT users_totp_confirmed_has_secret CHECK (totp_confirmed_at IS NULL OR totp_secret IS NOT NULL);
    CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));

    CREATE TABLE user_tokens (
      token_hash text PRIMARY KEY CHECK (token_hash ~ '^[0-9a-f]{64}$'),
      user_id text NOT NULL REFERENCES users(id),
      purpose text NOT NULL CHECK (purpose IN ('invite', 'reset')),
      created_by text NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      expires_at timestamptz NOT NULL,
      used_at timestamptz
    );
    CREATE INDEX user_tokens_user_idx ON user_tokens (user_id) WHERE used_at IS NULL;

    CREATE TABLE user_recovery_codes (
      user_id text NOT NULL REFERENCES users(id),
      code_hash text NOT NULL CHECK (code_hash ~ '^[0-9a-f]{64}$'),
      created_at timestamptz NOT NULL DEFAULT now(),
      used_at timestamptz,
      PRIMARY KEY (user_id, code_hash)
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE user_recovery_codes, user_tokens;
    DROP INDEX users_email_lower_idx;
    ALTER TABLE users
      DROP CONSTRAINT users_totp_confirmed_has_secret,
      DROP COLUMN disabled_at,
      DROP COLUMN tokens_valid_after,
      DROP COLUMN password_changed_at,
      DROP COLUMN last_login_at,
      DROP COLUMN totp_secret,
      DROP COLUMN totp_confirmed_at,
      DROP COLUMN totp_last_step;
  `);
}
