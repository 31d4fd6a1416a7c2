/**
 * Pages the API serves itself, with no CDN and no inline script (the CSP forbids both): `/dashboard`
 * (the web app's shell: the scripts in assets/ sign in and render its views from the JSON API), `/docs`
 * (rendered on the server from the OpenAPI document), `/openapi.json`, and `/assets/:file`.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Router } from 'express';
import { featureRouter } from '../router';
import { buildOpenApi, operations } from '../openapi';
import { parseOr400 } from '../validate';
import { ASSET_TYPES, assetParams, type AssetFile } from './assets';

const ASSETS = Object.fromEntries(
  (Object.entries(ASSET_TYPES) as [AssetFile, string][]).map(([name, type]) => [
    name,
    { type, body: fs.readFileSync(path.join(__dirname, 'assets', name)) },
  ]),
) as Record<AssetFile, { type: string; body: Buffer }>;

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  );
}

/** The empty `data:` icon (allowed by img-src) stops browsers asking for /favicon.ico, a 404 in every log. */
function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/assets/style.css">
</head>
<body>
${body}
</body>
</html>
`;
}

const DASHBOARD = page(
  'Rollcall',
  `<a class="skip" href="#main">Skip to content</a>
<header>
  <h1>Rollcall</h1>
  <nav id="nav" aria-label="Main" hidden>
    <a href="#/today">Today</a>
    <a href="#/courses">Courses</a>
    <a href="#/devices" data-role="admin">Devices</a>
    <a href="#/timetable" data-role="admin">Timetable</a>
    <a href="#/students" data-role="admin">Students</a>
    <a href="#/rooms" data-role="admin">Rooms</a>
    <a href="#/imports" data-role="admin">Imports</a>
    <a href="#/enroll">Enrollment</a>
    <a href="#/users" data-role="admin">Users</a>
    <a href="#/account">Account</a>
  </nav>
  <span id="who"></span>
  <label id="school-pick" hidden>School <select id="school"></select></label>
  <a id="temporal-link" href="#" target="_blank" rel="noopener noreferrer">Temporal UI</a>
  <a href="/docs">API docs</a>
  <button type="button" id="logout" hidden>Sign out</button>
</header>
<main id="main" tabindex="-1">
<section id="login">
  <h2>Sign in</h2>
  <form id="login-form" class="login" autocomplete="on">
    <label for="email">Email</label><input id="email" name="email" type="email" required autocomplete="username">
    <label for="password">Password</label><input id="password" name="password" type="password" required autocomplete="current-password">
    <button type="submit" id="sign-in">Sign in</button>
    <div id="login-error" class="error" role="alert"></div>
  </form>
</section>
<section id="login-step" aria-labelledby="step-title" hidden></section>
<div id="app" hidden>
  <div id="view"></div>
  <p id="updated" class="muted"></p>
</div>
</main>
<div id="toast" class="toast" role="status" aria-live="polite"></div>
<dialog id="reason-dialog" aria-labelledby="reason-title">
  <form id="reason-form">
    <h2 id="reason-title">Reason</h2>
    <p id="reason-what"></p>
    <label for="reason">Reason (required, kept in the audit log)</label>
    <input id="reason" name="reason" required maxlength="500" autocomplete="off">
    <div id="reason-error" class="error" role="alert"></div>
    <div class="actions"><button type="submit" id="reason-save" class="primary">Save</button><button type="button" id="reason-cancel">Cancel</button></div>
  </form>
</dialog>
<script src="/assets/app.js"></script>
<script src="/assets/charts.js"></script>
<script src="/assets/teacher.js"></script>
<script src="/assets/admin.js"></script>
<script src="/assets/qr.js"></script>
<script src="/assets/accounts.js"></script>
<script src="/assets/school.js"></script>`,
);

interface DocOperation {
  summary?: string;
  description?: string;
  security?: Record<string, unknown>[];
  parameters?: { name: string; in: string; required: boolean; schema: unknown }[];
  requestBody?: { content: Record<string, { schema: unknown }> };
  responses?: Record<string, { description: string }>;
}

function docsHtml(spec: ReturnType<typeof buildOpenApi>): string {
  const sections = spec.tags.map((tag) => {
    const ops = operations
      .filter((o) => o.tag === tag.name)
      .map((o) => {
        const p = Object.entries(spec.paths).find(
          ([k]) => k === o.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}'),
        )?.[1];
        const op = (p?.[o.method] ?? {}) as DocOperation;
        const auth =
          o.auth === 'none'
            ? 'no auth'
            : o.auth === 'device'
              ? 'device key'
              : o.auth === 'admin'
                ? 'JWT, admin'
                : 'JWT';
        const params = (op.parameters ?? [])
          .map(
            (x) =>
              `<li><code>${escapeHtml(x.name)}</code> (${escapeHtml(x.in)}${x.required ? ', required' : ''}) <code>${escapeHtml(JSON.stringify(x.schema))}</code></li>`,
          )
          .join('');
        const body = op.requestBody
          ? `<details><summary>Request body</summary><pre>${escapeHtml(JSON.stringify(op.requestBody.content['application/json']?.schema ?? {}, null, 2))}</pre></details>`
          : '';
        const responses = Object.keys(op.responses ?? {}).join(', ');
        return `<details class="op"><summary><span class="method">${o.method.toUpperCase()}</span> <code>${escapeHtml(o.path)}</code> — ${escapeHtml(o.summary)} <span class="muted">(${auth})</span></summary>
${params ? `<ul>${params}</ul>` : ''}${body}<p class="muted">Responses: ${escapeHtml(responses)}</p></details>`;
      })
      .join('\n');
    return `<section><h2>${escapeHtml(tag.name)}</h2><p class="muted">${escapeHtml(tag.description)}</p>${ops}</section>`;
  });
  return page(
    'Rollcall API',
    `<header><h1>${escapeHtml(spec.info.title)} ${escapeHtml(spec.info.version)}</h1><a href="/openapi.json">openapi.json</a><a href="/dashboard">Dashboard</a></header>
<main><section><p>${escapeHtml(spec.info.description)}</p></section>${sections.join('\n')}</main>`,
  );
}

export function pageRoutes(): Router {
  const router = featureRouter();
  const spec = buildOpenApi();
  const docs = docsHtml(spec);
  router.get('/openapi.json', (_req, res) => void res.json(spec));
  router.get('/docs', (_req, res) => void res.type('html').send(docs));
  router.get(
    '/dashboard',
    (_req, res) => void res.type('html').setHeader('Cache-Control', 'no-store').send(DASHBOARD),
  );
  router.get('/assets/:file', (req, res) => {
    const { file } = parseOr400(assetParams, req.params, 'params');
    const asset = ASSETS[file]!;
    res.setHeader('Cache-Control', 'public, max-age=300');
    res.type(asset.type).send(asset.body);
  });
  return router;
}
