/**
 * The contracts between the edge and the server: request and answer shapes as zod schemas with their
 * inferred types. Both sides import them from here (the edge is deployed alone and never imports api/),
 * so each field has one meaning, documented once in its schema (and in the OpenAPI document built from it).
 */
export * from './attendance';
export * from './deviceConfig';
export * from './devices';
export * from './schedule';
export * from './text';
