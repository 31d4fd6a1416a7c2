/**
 * The files a OneRoster CSV bundle's manifest names (`file.<name>` = bulk | delta | absent): the 1.2 set, in
 * the order the binding lists them, and the 1.1 set, which lacks roles, user profiles and resources, and the
 * gradebook's score scales and learning objectives.
 */
export const ONEROSTER_12_FILES = [
  'academicSessions',
  'categories',
  'classes',
  'classResources',
  'courses',
  'courseResources',
  'demographics',
  'enrollments',
  'lineItemLearningObjectiveIds',
  'lineItems',
  'lineItemScoreScales',
  'orgs',
  'resources',
  'resultLearningObjectiveIds',
  'results',
  'resultScoreScales',
  'roles',
  'scoreScales',
  'userProfiles',
  'userResources',
  'users',
] as const;

const ONLY_IN_12 = new Set<string>([
  'lineItemLearningObjectiveIds',
  'lineItemScoreScales',
  'resultLearningObjectiveIds',
  'resultScoreScales',
  'roles',
  'scoreScales',
  'userProfiles',
  'userResources',
]);

export const ONEROSTER_11_FILES = ONEROSTER_12_FILES.filter((f) => !ONLY_IN_12.has(f));
