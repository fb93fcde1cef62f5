// Lint for src, tests, examples, bench and scripts: eslint's and typescript-eslint's recommended rules (type-aware for
// TypeScript), the few style rules the code follows, and every disable comment must still be needed.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	// The Next.js example is type-checked by its own build (its tsconfig: bundler resolution, `@/` paths); the NestJS
	// example is linted with its own tsconfig (decorators), and its tsc output is not.
	{ignores: ['dist/', 'coverage/', '.tmp/', 'examples/rate-limit/generated/', 'examples/nextjs/', 'examples/nestjs/dist/']},
	{linterOptions: {reportUnusedDisableDirectives: 'error'}},
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		languageOptions: {
			globals: {...globals.node, ...globals.jest},
			parserOptions: {projectService: true, tsconfigRootDir: import.meta.dirname},
		},
		rules: {
			// Concurrency is the subject here: an await in a loop must say why it is sequential.
			'no-await-in-loop': 'error',
			'@typescript-eslint/no-floating-promises': 'error',
			// Client shapes (`on(event: any, …)`) and test doubles need `any` where the clients' own types would tie the
			// package to one client library.
			'@typescript-eslint/no-explicit-any': 'off',
			'@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_'}],
			'no-multiple-empty-lines': ['error', {max: 1, maxEOF: 0}],
			'max-len': ['error', {
				code: 120, tabWidth: 1, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals:
				true,
			}],
			eqeqeq: 'error',
			'prefer-const': 'error',
		},
	},
	{
		files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
		extends: [tseslint.configs.disableTypeChecked],
	},
);
