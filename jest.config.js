import {connect} from 'node:net';

// Jest runs the TypeScript sources through ts-jest as CommonJS. p-memoize, mimic-function, leven and cookie
// (light-my-request's, under fastify.inject) are ESM-only, so they are transformed too (allowJs) instead of being
// ignored like the rest of node_modules. Some tests find files beside themselves with `import.meta.url`, as ESM code
// does: TypeScript leaves it alone in CommonJS output (TS1343 is only reported, not fixed) and
// babel-plugin-transform-import-meta turns it into the CommonJS equivalent.
const transform = {
	'^.+\\.[cm]?[tj]sx?$': ['ts-jest', {
		tsconfig: 'tsconfig.jest.json',
		diagnostics: {ignoreCodes: [1343]},
		babelConfig: {plugins: ['babel-plugin-transform-import-meta']},
	}],
};

const common = {
	testEnvironment: 'node',
	transform,
	transformIgnorePatterns: ['/node_modules/(?!(.*/)?(p-memoize|mimic-function|cookie|leven)/)'],
	moduleNameMapper: {
		'^(\\.{1,2}/.*)\\.js$': '$1',
		// The examples import the package by its name, as users do: the built CommonJS entry (npm test builds first).
		'^connection-guard$': '<rootDir>/dist/index.cjs',
	},
	setupFilesAfterEnv: ['<rootDir>/__tests__/helpers/setup.ts'],
	// The Next.js and NestJS examples have their own packages and build output (package.json files jest would otherwise
	// index).
	modulePathIgnorePatterns: ['<rootDir>/examples/nextjs/', '<rootDir>/examples/nestjs/'],
};

// PostgreSQL tests run where a server answers (CI starts the local service; see .ci/run).
async function postgresAnswers() {
	const url = new URL(process.env.DATABASE_URL?.startsWith('postgres') ? process.env.DATABASE_URL : 'postgresql://127.0.0.1:5432/test');
	return new Promise(resolve => {
		const socket = connect(Number(url.port || 5432), url.hostname);
		socket.setTimeout(1000, () => {
			socket.destroy();
			resolve(false);
		});
		socket.once('connect', () => {
			socket.end();
			resolve(true);
		});
		socket.once('error', () => resolve(false));
	});
}

export default async function config() {
	const withPostgres = await postgresAnswers();
	if (!withPostgres) {
		console.warn('[jest] PostgreSQL is not reachable on 127.0.0.1:5432 (or DATABASE_URL): leaving out the PostgreSQL tests.');
	}

	return {
		projects: [
			{...common, displayName: 'unit', testMatch: ['<rootDir>/__tests__/unit/**/*.test.ts']},
			{...common, displayName: 'integration', testMatch: ['<rootDir>/__tests__/integration/**/*.test.ts']},
			{
				...common,
				displayName: 'examples',
				testMatch: ['<rootDir>/__tests__/examples/**/*.test.ts'],
				testPathIgnorePatterns: withPostgres ? ['/node_modules/'] : ['/node_modules/', 'postgres'],
			},
			// `next build` and `next start` over HTTP: not in `npm test` (the build takes a while); `npm run test:nextjs`.
			// Both app projects install and build their app once, before their files run.
			{
				...common,
				displayName: 'nextjs',
				testMatch: ['<rootDir>/__tests__/nextjs/**/*.test.ts'],
				globalSetup: '<rootDir>/__tests__/helpers/prepare-example-app.ts',
			},
			// The NestJS app, compiled with tsc and served over HTTP: `npm run test:nestjs`.
			{
				...common,
				displayName: 'nestjs',
				globalSetup: '<rootDir>/__tests__/helpers/prepare-example-app.ts',
				testMatch: ['<rootDir>/__tests__/nestjs/**/*.test.ts'],
				testPathIgnorePatterns: withPostgres ? ['/node_modules/'] : ['/node_modules/', 'postgres'],
			},
		],
	};
}
