/**
 * Accounts for operators, through the same use cases as the users admin API (api/auth/accounts.ts), for
 * installations without a mail server: the one-time token is printed here and handed to the person.
 *
 *   npm run users -- invite <email> <name> <admin|teacher> [--school ID]   prints the invite token ONCE (valid
 *                                           7 days); the user belongs to that school (a teacher without
 *                                           --school: the only school, if there is one; an admin without it:
 *                                           a district admin, who spans schools)
 *   npm run users -- reset <email>          prints a password-reset token ONCE (1 hour; a fresh invite if
 *                                           the user never set a password)
 *   npm run users -- disable <email> [--reason TEXT] | enable <email> | role <email> <admin|teacher>
 *   npm run users -- reset-mfa <email>      clears a lost authenticator (the user enrols again)
 *   npm run users -- list [--json]
 *
 * The token goes to stdout alone (nothing is logged); how to redeem it goes to stderr. Needs the database
 * (DATABASE_URL, or the local server `npm start` runs).
 */
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AppError } from '../api/errors';
import {
  changeRole,
  inviteUser,
  issuePasswordToken,
  listUsers,
  resetMfa,
  setDisabled,
  userByEmail,
  type IssuedToken,
} from '../api/auth/accounts';
import { text } from '../lib/contracts/text';
import { SCHOOL_ID, schoolDb } from '../lib/tenancy';
import type { Role } from '../lib/jwt';
import { openOpsContext, runCli, UsageError, type OpsContext } from './lib/opsContext';

const USAGE = `usage: npm run users -- invite <email> <name> <admin|teacher> [--school ID]
       npm run users -- reset <email>
       npm run users -- disable <email> [--reason TEXT]
       npm run users -- enable <email>
       npm run users -- role <email> <admin|teacher>
       npm run users -- reset-mfa <email>
       npm run users -- list [--json]`;

function role(v: string | undefined): Role {
  if (v !== 'admin' && v !== 'teacher') throw new UsageError('the role is admin or teacher');
  return v;
}

function email(v: string | undefined): string {
  if (!v || !z.email().max(254).safeParse(v).success) throw new UsageError('an e-mail address is needed');
  return v;
}

async function userId(ctx: OpsContext, address: string): Promise<string> {
  const user = await userByEmail(ctx.db, address);
  if (!user) throw new AppError(404, 'not_found', `no user has the e-mail address ${address}`);
  return user.id;
}

function printToken(ctx: OpsContext, address: string, issued: IssuedToken): void {
  const base = `http://${ctx.cfg.API_HOST}:${ctx.cfg.API_PORT}`;
  process.stderr.write(
    `${issued.purpose === 'invite' ? 'invitation' : 'password reset'} for ${address}, valid until ` +
      `${issued.expiresAt}, single use; the token, shown once:\n`,
  );
  process.stdout.write(`${issued.token}\n`);
  process.stderr.write(
    `\nThe user opens this link and sets a password (12+ characters):\n` +
      `  ${base}/dashboard#/accept?token=${issued.token}\n` +
      `or, without a browser:\n` +
      `  curl -X POST ${base}/api/v1/auth/password/set -H 'Content-Type: application/json' \\\n` +
      `    -d '{"token":"${issued.token}","password":"<new password>"}'\n`,
  );
}

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      reason: { type: 'string' },
      school: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...args] = positionals;
  if (values.help || !command) throw new UsageError('');
  const commands = ['invite', 'reset', 'disable', 'enable', 'role', 'reset-mfa', 'list'];
  if (!commands.includes(command)) throw new UsageError(`unknown command ${command}`);
  const address = command === 'list' ? '' : email(args[0]);
  const name = command === 'invite' ? text(200).safeParse(args[1] ?? '') : undefined;
  if (name && !name.success) throw new UsageError('invite needs a name (in quotes if it has spaces)');
  const newRole = command === 'invite' ? role(args[2]) : command === 'role' ? role(args[1]) : undefined;
  const ctx = await openOpsContext();
  try {
    switch (command) {
      case 'invite': {
        if (values.school !== undefined && !SCHOOL_ID.test(values.school))
          throw new UsageError('--school takes a school id (letters, digits, . _ -)');
        const { user, invite } = await inviteUser(
          values.school === undefined ? ctx.db : schoolDb(ctx.db, values.school),
          { email: address, name: name!.data!, role: newRole! },
          ctx.actor,
        );
        process.stderr.write(
          `invited ${user.email} as ${user.role} (${user.id})${values.school ? ` of school ${values.school}` : ''}\n`,
        );
        printToken(ctx, user.email, invite);
        return 0;
      }
      case 'reset':
        printToken(ctx, address, await issuePasswordToken(ctx.db, await userId(ctx, address), ctx.actor));
        return 0;
      case 'disable':
      case 'enable': {
        const id = await userId(ctx, address);
        const user = await setDisabled(ctx.db, id, command === 'disable', ctx.actor, values.reason);
        process.stderr.write(`${user.email}: ${user.status}\n`);
        return 0;
      }
      case 'role': {
        const user = await changeRole(ctx.db, await userId(ctx, address), newRole!, ctx.actor);
        process.stderr.write(`${user.email}: ${user.role}\n`);
        return 0;
      }
      case 'reset-mfa': {
        const user = await resetMfa(ctx.db, await userId(ctx, address), ctx.actor);
        process.stderr.write(`${user.email}: MFA cleared; the next sign-in enrols it again if required\n`);
        return 0;
      }
      default: {
        const users = await listUsers(ctx.db);
        if (values.json) process.stdout.write(`${JSON.stringify(users)}\n`);
        else
          for (const u of users)
            process.stdout.write(
              `${u.email.padEnd(32)} ${u.role.padEnd(8)} ${u.status.padEnd(9)} mfa ${u.mfa ? 'on ' : 'off'}  ` +
                `last sign-in ${u.lastLoginAt ?? 'never'}  ${u.name}\n`,
            );
        return 0;
      }
    }
  } finally {
    await ctx.close();
  }
}

runCli(USAGE, main);
