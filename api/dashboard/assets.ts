/**
 * The files under api/dashboard/assets/ that /assets/:file serves: the web app's scripts (plain browser
 * JavaScript, no build step) and its one stylesheet. Listed once for the route and its OpenAPI entry.
 */
import { z } from 'zod';

export const ASSET_TYPES = {
  'app.js': 'application/javascript; charset=utf-8',
  'charts.js': 'application/javascript; charset=utf-8',
  'teacher.js': 'application/javascript; charset=utf-8',
  'admin.js': 'application/javascript; charset=utf-8',
  'qr.js': 'application/javascript; charset=utf-8',
  'accounts.js': 'application/javascript; charset=utf-8',
  'school.js': 'application/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
} as const;

export type AssetFile = keyof typeof ASSET_TYPES;

export const assetParams = z.strictObject({
  file: z.enum(Object.keys(ASSET_TYPES) as [AssetFile, ...AssetFile[]]),
});
