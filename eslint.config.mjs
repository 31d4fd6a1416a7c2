// Lint enforces the workflow sandbox (no Node built-ins or I/O libraries in workflows/) and no floating promises.
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'fs',
  'path',
  'os',
  'net',
  'http',
  'https',
  'child_process',
  'crypto',
  'worker_threads',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.data/**', 'models/onnx/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ...nodeBuiltins.flatMap((m) => [m, `node:${m}`]),
            'pg',
            'knex',
            'express',
            'onnxruntime-node',
            '@temporalio/client',
            '@temporalio/worker',
          ],
          // Activities may be imported only as types (for proxyActivities); nothing else that does I/O.
          patterns: [
            { group: ['../activities/*', '../activities'], allowTypeImports: true },
            { group: ['../lib/*', '!../lib/contracts', '!../lib/contracts/*', '../api/*'] },
            // The edge/server contracts: their types anywhere; values only from the zod-free deviceConfig.
            {
              regex: '^\\.\\./lib/contracts(/(?!deviceConfig$).*)?$',
              allowTypeImports: true,
            },
          ],
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.object.name='Date'][callee.property.name='now']",
          message: 'Use workflowNowMs() from workflows/time.ts',
        },
        {
          selector: "CallExpression[callee.object.name='Math'][callee.property.name='random']",
          message: 'Use uuid4() from @temporalio/workflow',
        },
      ],
    },
  },
);
