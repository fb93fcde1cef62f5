// Jest runs the TypeScript sources through ts-jest as CommonJS. p-memoize and mimic-function are ESM-only, so they are
// transformed too (allowJs) instead of being ignored like the rest of node_modules.
const transform = {
	'^.+\\.[cm]?[tj]sx?$': ['ts-jest', {tsconfig: 'tsconfig.jest.json'}],
};

const common = {
	testEnvironment: 'node',
	transform,
	transformIgnorePatterns: ['/node_modules/(?!(p-memoize|mimic-function)/)'],
	moduleNameMapper: {
		'^(\\.{1,2}/.*)\\.js$': '$1',
		// The examples import the package by its name, as users do: the built CommonJS entry (npm test builds first).
		'^connection-guard$': '<rootDir>/dist/index.cjs',
	},
	setupFilesAfterEnv: ['<rootDir>/__tests__/helpers/setup.ts'],
};

export default {
	projects: [
		{...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts']},
		{...common, displayName: 'integration', testMatch: ['<rootDir>/__tests__/integration/**/*.test.ts']},
		{...common, displayName: 'examples', testMatch: ['<rootDir>/__tests__/examples/**/*.test.ts']},
	],
};
