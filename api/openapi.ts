/**
 * The OpenAPI 3.1 document of every route, built from the same zod schemas the routes validate with
 * (zod 4's z.toJSONSchema), so the spec cannot drift from validation. test/unit/api/openapi.test.ts walks
 * the Express router stack and fails when a route is missing here or an operation has no route.
 */
import { z } from 'zod';
import { IMPORT_MEDIA_TYPES, importParams, importStarted, importView } from './admin/imports';
import { scheduleBody, scheduleListQuery, scheduleParams, scheduleView } from './admin/schedules';
import { activationBody } from './admin/crud';
import {
  schoolAnswer,
  schoolCreateBody,
  schoolListAnswer,
  schoolParams,
  schoolUpdateBody,
} from './admin/schools';
import {
  courseAdminAnswer,
  courseAdminListAnswer,
  courseAdminListQuery,
  courseAdminParams,
  courseAdminView,
  courseCreateBody,
  courseUpdateBody,
} from './admin/courses';
import {
  enrollmentAnswer,
  enrollmentBody,
  enrollmentListAnswer,
  enrollmentListQuery,
  enrollmentParams,
  enrollmentView,
} from './admin/enrollments';
import {
  roomAdminAnswer,
  roomAdminListAnswer,
  roomAdminListQuery,
  roomAdminParams,
  roomAdminView,
  roomCreateBody,
  roomUpdateBody,
} from './admin/rooms';
import {
  studentAdminAnswer,
  studentAdminListAnswer,
  studentAdminListQuery,
  studentAdminParams,
  studentAdminView,
  studentCreateBody,
  studentUpdateBody,
} from './admin/students';
import {
  attendanceAnswerSchema,
  attendanceBatchSchema,
  deviceConfigPatchSchema,
  heartbeatAnswerSchema,
  heartbeatBodySchema,
  rosterAnswerSchema,
  rosterParamsSchema,
  scheduleAnswerSchema,
  scheduleQuerySchema,
} from '../lib/contracts';
import {
  loginBody,
  loginResponse,
  meResponse,
  mfaDisableResponse,
  mfaLoginBody,
  passwordChangeBody,
  passwordSetBody,
  passwordSetResponse,
  secondFactorBody,
  totpCodeBody,
  totpConfirmResponse,
  totpEnrolResponse,
} from './auth/routes';
import {
  disableBody,
  inviteBody,
  inviteResponse,
  passwordTokenResponse,
  roleBody,
  userListResponse,
  userParams,
  userResponse,
} from './auth/users';
import { overviewResponse } from './dashboard/overview';
import { assetParams } from './dashboard/assets';
import { auditResponse, todayResponse } from './dashboard/classes';
import { deviceHealthResponse } from './dashboard/devices';
import { schoolResponse, studentsResponse } from './dashboard/directory';
import { consentBody, photosBody, rawQuery, revokeBody, studentParams } from './enrollment/routes';
import { erasureParams, erasureQuery, erasureResponse } from './privacy/routes';
import { absencesQuery, dateRange, idParam, sessionQuery } from './reports/routes';
import { attendanceExportQuery } from './exports/routes';
import { overrideBody, overrideResponse, sessionParams } from './sessions/routes';
import {
  decommissionBody,
  deviceListResponse,
  deviceParams,
  provisionBody,
  provisionResponse,
  rotateResponse,
} from './devices/routes';

type Method = 'get' | 'post' | 'put' | 'delete';
type Auth = 'none' | 'device' | 'user' | 'admin' | 'metrics';

export interface Operation {
  method: Method;
  /** Express-style path (`/api/v1/students/:id`). */
  path: string;
  tag: 'device' | 'people' | 'admin' | 'ops' | 'pages';
  summary: string;
  auth: Auth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  /** The route reads a missing body as `{}`. */
  bodyOptional?: boolean;
  /** Non-JSON request bodies, by media type. */
  rawBody?: string[];
  response?: z.ZodType;
  /** Default: 200 JSON. */
  /** `csv+zip`: a download, CSV or a zip bundle by the `format` parameter (errors are still JSON). */
  produces?: 'json' | 'json+csv' | 'csv+zip' | 'html' | 'asset' | 'prometheus';
  status?: number;
  /**
   * Statuses the operation answers besides its success, the input and auth errors every operation of its
   * kind has (see `responses`): another success (below 400, same body) or a domain error.
   */
  also?: number[];
  /** Examples of path and query parameters (the demo school's ids), for people and generators alike. */
  examples?: Record<string, string | number>;
  /** Follow-up operations fed from this one's answer (OpenAPI links), so a client can chain create → read. */
  links?: Record<string, Link>;
}

/** An OpenAPI link from an operation's success answer to another operation (named by method and path). */
interface Link {
  to: { method: Method; path: string };
  /** Parameter name → runtime expression (`$response.body#/schedule/id`, `$request.path.id`). */
  parameters: Record<string, string>;
  description: string;
}

const csv = 'json+csv' as const;

/** The six operations of an admin CRUD family (api/admin/crud.ts): list, one, create, replace, (re)activate. */
function adminCrudFamily(f: {
  entity: string;
  plural: string;
  example: string;
  params: z.ZodObject;
  listQuery: z.ZodObject;
  createBody: z.ZodType;
  updateBody: z.ZodType;
  view: z.ZodType;
  list: z.ZodType;
  answer: z.ZodType;
  /** What deactivating does, and why it may be refused. */
  deactivation: string;
  reactivation: string;
}): Operation[] {
  const base = `/api/v1/admin/${f.plural}`;
  const one = `${base}/:id`;
  const common = { tag: 'admin', auth: 'admin' } as const;
  const fromCreated = { id: `$response.body#/${f.entity}/id` };
  const activation = (what: 'deactivate' | 'reactivate', summary: string): Operation => ({
    ...common,
    method: 'post',
    path: `${one}/${what}`,
    also: [404, 409, 422],
    examples: { id: f.example },
    summary,
    params: f.params,
    body: activationBody,
    bodyOptional: true,
    response: f.answer,
  });
  return [
    {
      ...common,
      method: 'get',
      path: base,
      summary: `The ${f.plural} (active and inactive), searchable, with where each came from (OneRoster import or here)`,
      query: f.listQuery,
      response: f.list,
    },
    {
      ...common,
      method: 'get',
      path: one,
      also: [404],
      examples: { id: f.example },
      summary: `One ${f.entity}`,
      params: f.params,
      response: z.object({ [f.entity]: f.view }),
    },
    {
      ...common,
      method: 'post',
      path: base,
      also: [409, 422],
      status: 201,
      links: {
        read: {
          to: { method: 'get', path: one },
          parameters: fromCreated,
          description: `Read the ${f.entity} just created`,
        },
        replace: {
          to: { method: 'put', path: one },
          parameters: fromCreated,
          description: `Change the ${f.entity} just created`,
        },
        deactivate: {
          to: { method: 'post', path: `${one}/deactivate` },
          parameters: fromCreated,
          description: `Deactivate the ${f.entity} just created`,
        },
      },
      summary: `Create a ${f.entity} (an id already taken: 409); audited`,
      body: f.createBody,
      response: f.answer,
    },
    {
      ...common,
      method: 'put',
      path: one,
      also: [404, 409, 422],
      examples: { id: f.example },
      summary: `Replace a ${f.entity}'s editable fields; audited (an imported row: the answer says the next import may overwrite it)`,
      params: f.params,
      body: f.updateBody,
      response: f.answer,
    },
    activation('deactivate', `Deactivate a ${f.entity} (never deleted): ${f.deactivation}; audited`),
    activation('reactivate', `Reactivate a ${f.entity}: ${f.reactivation}; audited`),
  ];
}

const enrollmentPath = '/api/v1/admin/enrollments/:course_id/:student_id';
const enrollmentExample = { course_id: 'MATH201', student_id: 'S045' };
const fromEnrollment = {
  course_id: '$response.body#/enrollment/course_id',
  student_id: '$response.body#/enrollment/student_id',
};
const enrollmentActivation = (what: 'deactivate' | 'reactivate', summary: string): Operation => ({
  method: 'post',
  path: `${enrollmentPath}/${what}`,
  also: [404, 409, 422],
  examples: enrollmentExample,
  tag: 'admin',
  auth: 'admin',
  summary,
  params: enrollmentParams,
  body: activationBody,
  bodyOptional: true,
  response: enrollmentAnswer,
});

const adminCrudOperations: Operation[] = [
  ...adminCrudFamily({
    entity: 'student',
    plural: 'students',
    example: 'S001',
    params: studentAdminParams,
    listQuery: studentAdminListQuery,
    createBody: studentCreateBody,
    updateBody: studentUpdateBody,
    view: studentAdminView,
    list: studentAdminListAnswer,
    answer: studentAdminAnswer,
    deactivation:
      "ends the student's enrollments (roster versions move, devices drop their faces), keeps marks, consent and embeddings",
    reactivation: 'restores the enrollments the deactivation ended',
  }),
  ...adminCrudFamily({
    entity: 'course',
    plural: 'courses',
    example: 'CS101',
    params: courseAdminParams,
    listQuery: courseAdminListQuery,
    createBody: courseCreateBody,
    updateBody: courseUpdateBody,
    view: courseAdminView,
    list: courseAdminListAnswer,
    answer: courseAdminAnswer,
    deactivation: 'pauses its timetable rows (timetable:sync), keeps enrollments and history',
    reactivation: 'resumes the timetable rows the deactivation paused (a row that now clashes stays paused)',
  }),
  ...adminCrudFamily({
    entity: 'room',
    plural: 'rooms',
    example: 'R102',
    params: roomAdminParams,
    listQuery: roomAdminListQuery,
    createBody: roomCreateBody,
    updateBody: roomUpdateBody,
    view: roomAdminView,
    list: roomAdminListAnswer,
    answer: roomAdminAnswer,
    deactivation: 'refused (409) while active timetable rows use the room',
    reactivation: 'the room can be timetabled again',
  }),
  {
    method: 'get',
    path: '/api/v1/admin/enrollments',
    examples: { course_id: 'DEMO100' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Enrollments in effect and ended ones, optionally of one course or student',
    query: enrollmentListQuery,
    response: enrollmentListAnswer,
  },
  {
    method: 'get',
    path: enrollmentPath,
    also: [404],
    examples: enrollmentExample,
    tag: 'admin',
    auth: 'admin',
    summary: 'One enrollment (in effect or ended)',
    params: enrollmentParams,
    response: z.object({ enrollment: enrollmentView }),
  },
  {
    method: 'post',
    path: '/api/v1/admin/enrollments',
    also: [409, 422],
    status: 201,
    links: {
      read: {
        to: { method: 'get', path: enrollmentPath },
        parameters: fromEnrollment,
        description: 'Read the enrollment just made',
      },
      deactivate: {
        to: { method: 'post', path: `${enrollmentPath}/deactivate` },
        parameters: fromEnrollment,
        description: 'End the enrollment just made',
      },
    },
    tag: 'admin',
    auth: 'admin',
    summary: "Enroll an active student in an active course; bumps the course's roster version; audited",
    body: enrollmentBody,
    response: enrollmentAnswer,
  },
  enrollmentActivation(
    'deactivate',
    "End an enrollment (kept as ended); bumps the course's roster version; audited",
  ),
  enrollmentActivation(
    'reactivate',
    "Restore an ended enrollment; bumps the course's roster version; audited",
  ),
];

export const operations: Operation[] = [
  // Device-facing (device key)
  {
    method: 'post',
    path: '/api/v1/attendance',
    also: [422],
    links: {
      session: {
        to: { method: 'get', path: '/api/v1/sessions/:id' },
        parameters: { id: '$response.body#/results/0/session_id' },
        description: 'The roster of the session the first accepted record counts for',
      },
    },
    tag: 'device',
    auth: 'device',
    summary: 'Upload a batch of recognitions (idempotent event ids); 202 once committed to the inbox',
    body: attendanceBatchSchema,
    status: 202,
    response: attendanceAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/schedule',
    examples: { room_id: 'R100' },
    links: {
      roster: {
        to: { method: 'get', path: '/api/v1/roster/:sessionId' },
        parameters: { sessionId: '$response.body#/current/session_id' },
        description: 'The faces of the class running now',
      },
    },
    tag: 'device',
    auth: 'device',
    summary: "The device room's current and next class, with session id and roster version",
    query: scheduleQuerySchema,
    response: scheduleAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/roster/:sessionId',
    also: [304, 404],
    tag: 'device',
    auth: 'device',
    summary: 'Embeddings of the students enrolled in the session (ETag / 304)',
    params: rosterParamsSchema,
    response: rosterAnswerSchema,
  },
  // People
  {
    method: 'post',
    path: '/api/v1/auth/login',
    also: [401],
    tag: 'people',
    auth: 'none',
    summary: 'Sign in: email + password → JWT (rate-limited per IP)',
    body: loginBody,
    response: loginResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/login/mfa',
    also: [401, 429],
    tag: 'people',
    auth: 'none',
    summary:
      'Second sign-in step: the challengeToken of login + a TOTP or recovery code → JWT (5 failed codes lock it for 5 minutes)',
    body: mfaLoginBody,
    response: loginResponse,
  },
  {
    method: 'get',
    path: '/api/v1/auth/me',
    tag: 'people',
    auth: 'user',
    summary: 'The signed-in user (name, role, e-mail, whether TOTP is on)',
    response: meResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/mfa/totp',
    also: [409],
    tag: 'people',
    auth: 'user',
    summary:
      'Start TOTP enrolment: a new secret and otpauth:// URI (also with the enrolToken an admin without MFA gets at login)',
    response: totpEnrolResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/mfa/totp/confirm',
    also: [409, 422, 429],
    tag: 'people',
    auth: 'user',
    summary:
      'Confirm TOTP with a current code: MFA is on; answers 10 single-use recovery codes once and a JWT',
    body: totpCodeBody,
    response: totpConfirmResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/mfa/totp/disable',
    also: [409, 422, 429],
    tag: 'people',
    auth: 'user',
    summary: 'Turn TOTP off with a code or recovery code (an admin who must use MFA then enrols again)',
    body: secondFactorBody,
    response: mfaDisableResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/password',
    also: [422, 429],
    tag: 'people',
    auth: 'user',
    summary: 'Change your password (current + new); revokes every other token and answers a new JWT',
    body: passwordChangeBody,
    response: loginResponse,
  },
  {
    method: 'post',
    path: '/api/v1/auth/password/set',
    also: [401, 422, 429],
    tag: 'people',
    auth: 'none',
    summary: 'Set a password with an invite or reset token (single use; invite 7 days, reset 1 hour)',
    body: passwordSetBody,
    response: passwordSetResponse,
  },
  {
    method: 'get',
    path: '/api/v1/attendance/student/:id',
    also: [404],
    examples: { id: 'S001' },
    tag: 'people',
    auth: 'user',
    summary: "A student's history (teachers: their courses only)",
    params: idParam,
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/attendance/course/:id',
    also: [404],
    examples: { id: 'DEMO100' },
    tag: 'people',
    auth: 'user',
    summary: 'Course grid: students × sessions with percentages (teacher of the course or admin)',
    params: idParam,
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/sessions/:id',
    links: {
      override: {
        to: { method: 'post', path: '/api/v1/sessions/:id/overrides' },
        parameters: { id: '$request.path.id' },
        description: "Override a student's mark in this session",
      },
    },
    also: [404],
    tag: 'people',
    auth: 'user',
    summary: 'Session roster with marks',
    params: sessionParams,
    query: sessionQuery,
    produces: csv,
  },
  {
    method: 'post',
    path: '/api/v1/sessions/:id/overrides',
    also: [404, 409, 422],
    tag: 'people',
    auth: 'user',
    summary:
      "Override one student's mark (workflow update, or directly once the session has ended), or withdraw a correction back to unmarked while the session runs; audited",
    params: sessionParams,
    body: overrideBody,
    response: overrideResponse,
  },
  {
    method: 'get',
    path: '/api/v1/reports/unregistered-classes',
    tag: 'people',
    auth: 'user',
    summary: 'Timetabled classes for which no device sent anything',
    query: dateRange,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/reports/consecutive-absences',
    also: [404],
    tag: 'people',
    auth: 'user',
    summary: 'Students absent from their latest N sessions of a course',
    query: absencesQuery,
    produces: csv,
  },
  {
    method: 'get',
    path: '/api/v1/exports/attendance',
    also: [404],
    examples: { from: '2026-09-01', to: '2026-09-30', course_id: 'CS101' },
    tag: 'people',
    auth: 'user',
    summary:
      'Export the marks of a date range (at most 366 days): plain CSV, or a OneRoster 1.2 CSV bundle (zip: sessions as gradebook lineItems, marks as results); teachers get only their courses; audited',
    query: attendanceExportQuery,
    produces: 'csv+zip',
  },
  {
    method: 'post',
    path: '/api/v1/students/:id/consent',
    bodyOptional: true,
    also: [200, 404],
    examples: { id: 'S001' },
    links: {
      enrollment: {
        to: { method: 'get', path: '/api/v1/students/:id/enrollment' },
        parameters: { id: '$request.path.id' },
        description: "The student's enrollment status",
      },
      revoke: {
        to: { method: 'delete', path: '/api/v1/students/:id/consent' },
        parameters: { id: '$request.path.id' },
        description: 'Revoke the consent just recorded',
      },
    },
    tag: 'people',
    auth: 'user',
    summary: 'Record biometric enrollment consent (admin, or a teacher of the student)',
    params: studentParams,
    body: consentBody,
    status: 201,
  },
  {
    method: 'delete',
    path: '/api/v1/students/:id/consent',
    bodyOptional: true,
    also: [404, 409],
    examples: { id: 'S001' },
    tag: 'people',
    auth: 'user',
    summary: "Revoke consent (deletes the student's embeddings)",
    params: studentParams,
    body: revokeBody,
  },
  {
    method: 'post',
    path: '/api/v1/students/:id/photos',
    also: [404, 409, 413, 415],
    examples: { id: 'S001' },
    links: {
      enrollment: {
        to: { method: 'get', path: '/api/v1/students/:id/enrollment' },
        parameters: { id: '$request.path.id' },
        description: 'Follow the enrollment just started',
      },
    },
    tag: 'people',
    auth: 'user',
    summary: 'Upload enrollment photos (base64 JSON, or one raw image with ?by=) and start enrollStudent',
    params: studentParams,
    query: rawQuery,
    body: photosBody,
    rawBody: ['image/jpeg', 'image/png', 'image/webp'],
    status: 202,
  },
  {
    method: 'get',
    path: '/api/v1/students/:id/enrollment',
    also: [404],
    examples: { id: 'S001' },
    tag: 'people',
    auth: 'user',
    summary: 'Status of the latest enrollment workflow',
    params: studentParams,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/overview',
    tag: 'people',
    auth: 'user',
    summary: "Today's sessions per room with counts, device health, Temporal UI links",
    response: overviewResponse,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/today',
    tag: 'people',
    auth: 'user',
    summary: "The user's courses and today's timetabled classes with their counts (teachers: own courses)",
    response: todayResponse,
  },
  {
    method: 'get',
    path: '/api/v1/sessions/:id/audit',
    also: [404],
    tag: 'people',
    auth: 'user',
    summary: "Audit trail of a session's marks (overrides and corrections), newest first",
    params: sessionParams,
    response: auditResponse,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/students',
    tag: 'people',
    auth: 'user',
    summary:
      'Students with their consent and stored-embedding counts, for the enrollment page (teachers: students of own courses)',
    response: studentsResponse,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/school',
    tag: 'admin',
    auth: 'admin',
    summary: "The school's courses and rooms, for the timetable page",
    response: schoolResponse,
  },
  {
    method: 'get',
    path: '/api/v1/dashboard/devices',
    tag: 'admin',
    auth: 'admin',
    summary: 'Devices with their latest heartbeat (temperature, queue depth, clock offset) and open alerts',
    response: deviceHealthResponse,
  },
  // Admin
  {
    method: 'delete',
    path: '/api/v1/students/:id/biometrics',
    also: [404],
    examples: { id: 'S001' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Erase biometric data: embeddings, staged photos, consent; bumps roster versions; audited',
    params: erasureParams,
    query: erasureQuery,
    response: erasureResponse,
  },
  {
    method: 'get',
    path: '/api/v1/admin/schedules',
    examples: { room_id: 'R100' },
    tag: 'admin',
    auth: 'admin',
    summary: 'The timetable rows (active and paused), optionally of one room or course',
    query: scheduleListQuery,
    response: z.object({ schedules: z.array(scheduleView) }),
  },
  {
    method: 'post',
    path: '/api/v1/admin/schedules',
    also: [409, 422],
    links: {
      replace: {
        to: { method: 'put', path: '/api/v1/admin/schedules/:id' },
        parameters: { id: '$response.body#/schedule/id' },
        description: 'Replace the timetable row just created',
      },
      delete: {
        to: { method: 'delete', path: '/api/v1/admin/schedules/:id' },
        parameters: { id: '$response.body#/schedule/id' },
        description: 'Delete the timetable row just created',
      },
    },
    tag: 'admin',
    auth: 'admin',
    summary: 'Create a timetable row; starts timetable:sync',
    body: scheduleBody,
    status: 201,
    response: z.object({ schedule: scheduleView }),
  },
  {
    method: 'put',
    path: '/api/v1/admin/schedules/:id',
    also: [404, 409, 422],
    tag: 'admin',
    auth: 'admin',
    summary: 'Replace a timetable row; starts timetable:sync',
    params: scheduleParams,
    body: scheduleBody,
    response: z.object({ schedule: scheduleView }),
  },
  {
    method: 'delete',
    path: '/api/v1/admin/schedules/:id',
    also: [404, 409],
    tag: 'admin',
    auth: 'admin',
    summary: 'Delete a timetable row without sessions; starts timetable:sync',
    params: scheduleParams,
  },
  ...adminCrudOperations,
  {
    method: 'post',
    path: '/api/v1/admin/imports',
    also: [400, 413, 415],
    links: {
      status: {
        to: { method: 'get', path: '/api/v1/admin/imports/:id' },
        parameters: { id: '$response.body#/run_id' },
        description: 'Progress, summary or bad rows of the import just started',
      },
    },
    tag: 'admin',
    auth: 'admin',
    summary:
      'Import a OneRoster 1.1/1.2 CSV bundle (zip body or multipart file): validated whole, then applied by the rosterImport workflow; audited',
    rawBody: IMPORT_MEDIA_TYPES,
    status: 202,
    response: importStarted,
  },
  {
    method: 'get',
    path: '/api/v1/admin/imports/:id',
    also: [404],
    tag: 'admin',
    auth: 'admin',
    summary:
      "A roster import's status, live progress, summary (changes, classes still needing a room and times) or bad rows",
    params: importParams,
    response: importView,
  },
  {
    method: 'get',
    path: '/api/v1/schools',
    tag: 'people',
    auth: 'user',
    summary:
      "The caller's school (a district admin: every school, or the one named by X-School-Id); row-level security decides",
    response: schoolListAnswer,
  },
  {
    method: 'post',
    path: '/api/v1/admin/schools',
    also: [409],
    tag: 'admin',
    auth: 'admin',
    summary: 'Add a school (district admins acting for the district, without X-School-Id); audited',
    body: schoolCreateBody,
    status: 201,
    response: schoolAnswer,
  },
  {
    method: 'put',
    path: '/api/v1/admin/schools/:id',
    also: [404],
    examples: { id: 'main' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Rename a school (district admins); audited',
    params: schoolParams,
    body: schoolUpdateBody,
    response: schoolAnswer,
  },
  {
    method: 'get',
    path: '/api/v1/admin/users',
    tag: 'admin',
    auth: 'admin',
    summary: 'Users with role, status (active, invited, disabled), MFA and last sign-in',
    response: userListResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/users',
    also: [409],
    tag: 'admin',
    auth: 'admin',
    summary:
      'Invite a user (admin or teacher): no usable password until the one-time invite token is redeemed',
    body: inviteBody,
    status: 201,
    response: inviteResponse,
  },
  {
    method: 'put',
    path: '/api/v1/admin/users/:id/role',
    also: [404, 409],
    examples: { id: 'u-teacher2' },
    tag: 'admin',
    auth: 'admin',
    summary: "Change a user's role (not your own, not the last admin's); audited",
    params: userParams,
    body: roleBody,
    response: userResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/users/:id/disable',
    bodyOptional: true,
    also: [404, 409],
    examples: { id: 'u-teacher2' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Disable a user: sign-in refused and every token revoked at once; nothing is deleted',
    params: userParams,
    body: disableBody,
    response: userResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/users/:id/enable',
    also: [404, 409],
    examples: { id: 'u-teacher2' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Enable a disabled user again',
    params: userParams,
    response: userResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/users/:id/password-reset',
    also: [404, 409],
    examples: { id: 'u-teacher2' },
    tag: 'admin',
    auth: 'admin',
    summary: 'Issue a one-time password token (reset: 1 hour; a fresh invite for a user who never set one)',
    params: userParams,
    status: 201,
    response: passwordTokenResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/users/:id/mfa-reset',
    also: [404, 409],
    examples: { id: 'u-teacher2' },
    tag: 'admin',
    auth: 'admin',
    summary: "Clear a user's authenticator and recovery codes (lost phone); their tokens are revoked",
    params: userParams,
    response: userResponse,
  },
  {
    method: 'post',
    path: '/api/v1/heartbeat',
    tag: 'device',
    auth: 'device',
    summary:
      'Device heartbeat (every minute); answers with the settings an admin set explicitly for the device',
    body: heartbeatBodySchema,
    response: heartbeatAnswerSchema,
  },
  {
    method: 'get',
    path: '/api/v1/admin/devices',
    links: {
      rotate: {
        to: { method: 'post', path: '/api/v1/admin/devices/:id/rotate-key' },
        parameters: { id: '$response.body#/devices/0/deviceId' },
        description: 'Rotate the key of the first device listed',
      },
    },
    tag: 'admin',
    auth: 'admin',
    summary: 'Devices with status, last heartbeat and configuration',
    response: deviceListResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices',
    also: [409, 422],
    links: {
      configure: {
        to: { method: 'post', path: '/api/v1/admin/devices/:id/config' },
        parameters: { id: '$response.body#/device_id' },
        description: 'Configure the device just provisioned',
      },
      rotate: {
        to: { method: 'post', path: '/api/v1/admin/devices/:id/rotate-key' },
        parameters: { id: '$response.body#/device_id' },
        description: 'Replace the key just answered',
      },
      decommission: {
        to: { method: 'post', path: '/api/v1/admin/devices/:id/decommission' },
        parameters: { id: '$response.body#/device_id' },
        description: 'Decommission the device just provisioned',
      },
    },
    tag: 'admin',
    auth: 'admin',
    summary: 'Provision a device: starts its workflow, answers its API key once',
    body: provisionBody,
    status: 201,
    response: provisionResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/rotate-key',
    also: [404, 409],
    tag: 'admin',
    auth: 'admin',
    summary: 'Replace the device key (the old one stops working at once); answers the new key once',
    params: deviceParams,
    response: rotateResponse,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/config',
    also: [404, 409],
    tag: 'admin',
    auth: 'admin',
    summary:
      "Change a device's settings (validated by the workflow); delivered in its next heartbeat response",
    params: deviceParams,
    body: deviceConfigPatchSchema,
    response: heartbeatAnswerSchema,
  },
  {
    method: 'post',
    path: '/api/v1/admin/devices/:id/decommission',
    bodyOptional: true,
    also: [404, 409],
    tag: 'admin',
    auth: 'admin',
    summary: 'Decommission: the key is revoked before the answer; the device workflow then completes',
    params: deviceParams,
    body: decommissionBody,
    status: 202,
  },
  // Operations
  { method: 'get', path: '/health', tag: 'ops', auth: 'none', summary: 'Process is up' },
  { method: 'get', path: '/health/live', tag: 'ops', auth: 'none', summary: 'Liveness probe' },
  {
    method: 'get',
    path: '/health/ready',
    tag: 'ops',
    auth: 'none',
    summary: 'Readiness: Postgres reachable (503 otherwise); reports Temporal',
  },
  {
    method: 'get',
    path: '/health/detailed',
    tag: 'ops',
    auth: 'admin',
    summary: 'Latencies, errors and memory (admin)',
  },
  { method: 'get', path: '/openapi.json', tag: 'ops', auth: 'none', summary: 'This document' },
  {
    method: 'get',
    path: '/metrics',
    tag: 'ops',
    auth: 'metrics',
    summary: 'Prometheus metrics of this process (devices, backups, API latency)',
    produces: 'prometheus',
  },
  // Pages
  {
    method: 'get',
    path: '/docs',
    tag: 'pages',
    auth: 'none',
    summary: 'API documentation (rendered from this document)',
    produces: 'html',
  },
  {
    method: 'get',
    path: '/dashboard',
    tag: 'pages',
    auth: 'none',
    summary: 'Dashboard (signs in with the login endpoint; data needs a JWT)',
    produces: 'html',
  },
  {
    method: 'get',
    path: '/assets/:file',
    tag: 'pages',
    auth: 'none',
    summary: "Static assets of the pages (the web app's scripts and stylesheet)",
    produces: 'asset',
    params: assetParams,
  },
];

/** `/a/:id` → `/a/{id}` */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

function jsonSchema(schema: z.ZodType): Record<string, unknown> {
  const s = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
  delete s.$schema;
  return s;
}

function parameters(op: Operation, where: 'path' | 'query') {
  const schema = where === 'path' ? op.params : op.query;
  if (!schema) return [];
  const s = jsonSchema(schema) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(s.properties ?? {}).map(([name, prop]) => ({
    name,
    in: where,
    required: where === 'path' || (s.required ?? []).includes(name),
    schema: prop,
    ...(op.examples?.[name] !== undefined ? { example: op.examples[name] } : {}),
  }));
}

export function operationId(method: Method, expressPath: string): string {
  return `${method}${openApiPath(expressPath).replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`;
}

const errorResponse = {
  description: 'Error',
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
};

function successContent(op: Operation): Record<string, unknown> {
  const text = { schema: { type: 'string' } };
  switch (op.produces) {
    case 'html':
      return { 'text/html': text };
    case 'asset':
      return { 'application/javascript': text, 'text/css': text };
    case 'prometheus':
      return { 'text/plain': { ...text, description: 'Prometheus text exposition format 0.0.4' } };
    case 'csv+zip':
      return {
        'text/csv': text,
        'application/zip': { schema: { type: 'string', contentMediaType: 'application/zip' } },
      };
    default:
      return {
        'application/json': { schema: op.response ? jsonSchema(op.response) : { type: 'object' } },
        ...(op.produces === 'json+csv' ? { 'text/csv': text } : {}),
      };
  }
}

const ERROR_STATUSES: Record<number, string> = {
  400: 'The request is invalid; the message names the first bad field',
  401: 'No valid credentials',
  403: 'Not allowed for this user or device',
  404: 'No such resource',
  409: 'Conflicts with the current state',
  413: 'Request body too large',
  415: 'Unsupported body type or encoding',
  422: 'Understood but refused (the message says why)',
  429: 'Rate limited (see Retry-After)',
  503: 'A dependency (Postgres, Temporal) is unavailable; retry after Retry-After',
};

/** Operations that answer from memory, never touching Postgres or Temporal. */
const STATIC_PATHS = new Set([
  '/health',
  '/health/live',
  '/openapi.json',
  '/docs',
  '/dashboard',
  '/assets/:file',
]);

/** Every status an operation answers: its success(es), the errors of its kind of input and auth, `also`. */
export function responseStatuses(op: Operation): number[] {
  const s = new Set<number>([op.status ?? 200, ...(op.also ?? [])]);
  if (op.params || op.query || op.body) s.add(400);
  if (op.auth !== 'none') s.add(401);
  if (op.auth !== 'none' && op.auth !== 'device') s.add(403);
  if (op.auth === 'device') [403, 429].forEach((c) => s.add(c));
  if (op.path === '/api/v1/auth/login') s.add(429);
  if (op.body) [413, 415].forEach((c) => s.add(c));
  if (!STATIC_PATHS.has(op.path)) s.add(503);
  return [...s].sort((a, b) => a - b);
}

function responses(op: Operation) {
  const out: Record<string, unknown> = {};
  for (const status of responseStatuses(op)) {
    if (status === 304) out[status] = { description: 'Not modified (If-None-Match matched the ETag)' };
    else if (status < 400)
      out[status] = {
        description: 'Success',
        content: successContent(op),
        ...(op.links ? { links: links(op.links) } : {}),
      };
    else out[status] = { ...errorResponse, description: ERROR_STATUSES[status] ?? 'Error' };
  }
  return out;
}

function links(from: Record<string, Link>) {
  return Object.fromEntries(
    Object.entries(from).map(([name, l]) => [
      name,
      {
        operationId: operationId(l.to.method, l.to.path),
        parameters: l.parameters,
        description: l.description,
      },
    ]),
  );
}

export function buildOpenApi(opts: { version?: string } = {}) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const security = {
      none: [],
      device: [{ deviceKey: [] }],
      user: [{ userJwt: [] }],
      admin: [{ userJwt: [] }],
      // Without METRICS_TOKEN, loopback clients need none.
      metrics: [{}, { metricsToken: [] }],
    }[op.auth];
    const rawOnly =
      !op.body && op.rawBody
        ? {
            required: true,
            content: Object.fromEntries(
              op.rawBody.map((t) => [
                t,
                {
                  schema:
                    t === 'multipart/form-data'
                      ? {
                          type: 'object',
                          properties: { file: { type: 'string', format: 'binary' } },
                          required: ['file'],
                        }
                      : { type: 'string', format: 'binary' },
                },
              ]),
            ),
          }
        : undefined;
    const requestBody = op.body
      ? {
          required: !op.bodyOptional,
          content: {
            'application/json': { schema: jsonSchema(op.body) },
            ...Object.fromEntries(
              (op.rawBody ?? []).map((t) => [t, { schema: { type: 'string', format: 'binary' } }]),
            ),
          },
        }
      : undefined;
    paths[openApiPath(op.path)] ??= {};
    paths[openApiPath(op.path)]![op.method] = {
      operationId: operationId(op.method, op.path),
      tags: [op.tag],
      summary: op.summary,
      ...(op.auth === 'admin' ? { description: 'Requires the admin role.' } : {}),
      security,
      parameters: [...parameters(op, 'path'), ...parameters(op, 'query')],
      ...((requestBody ?? rawOnly) ? { requestBody: requestBody ?? rawOnly } : {}),
      responses: responses(op),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Rollcall API',
      version: opts.version ?? '0.1.0',
      description:
        'Face-recognition classroom attendance. Devices authenticate with their device key; people with a JWT from POST /api/v1/auth/login. Every error is {"error":{"code","message","details"}}.',
    },
    tags: [
      {
        name: 'device',
        description: 'Device-facing (device key, scoped to its room, rate-limited per device)',
      },
      { name: 'people', description: 'Teachers and admins (JWT; teachers see only their own courses)' },
      { name: 'admin', description: 'Admins only' },
      { name: 'ops', description: 'Health and this document' },
      { name: 'pages', description: 'HTML pages served by the API' },
    ],
    components: {
      securitySchemes: {
        deviceKey: { type: 'http', scheme: 'bearer', description: 'Device key (or X-Device-Key header)' },
        userJwt: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'METRICS_TOKEN' },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'details'],
              properties: { code: { type: 'string' }, message: { type: 'string' }, details: {} },
            },
          },
        },
      },
    },
    paths,
  };
}
