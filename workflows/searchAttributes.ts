/** Typed search attribute keys shown in the Temporal Web UI; registered on the dev server at start-up. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const CourseIdKey = defineSearchAttributeKey('CourseId', SearchAttributeType.KEYWORD);
export const RoomIdKey = defineSearchAttributeKey('RoomId', SearchAttributeType.KEYWORD);
export const DeviceIdKey = defineSearchAttributeKey('DeviceId', SearchAttributeType.KEYWORD);
export const SessionDateKey = defineSearchAttributeKey('SessionDate', SearchAttributeType.KEYWORD);

export const ALL_SEARCH_ATTRIBUTE_KEYS = [CourseIdKey, RoomIdKey, DeviceIdKey, SessionDateKey];
