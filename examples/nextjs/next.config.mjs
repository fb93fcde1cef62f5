import {fileURLToPath} from 'node:url';

const appDir = fileURLToPath(new URL('.', import.meta.url));
// The example stores live beside this app (examples/rate-limit) and the packages they import in the repository's
// node_modules: output tracing must be allowed to read the repository.
const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** @type {import('next').NextConfig} */
const nextConfig = {
	outputFileTracingRoot: repositoryRoot,
	// Loaded by Node.js at run time, not bundled: native code (better-sqlite3), and one copy of the guard's state.
	serverExternalPackages: [
		'ioredis', 'connection-guard', 'better-sqlite3', '@prisma/adapter-better-sqlite3', '@prisma/adapter-pg', 'pg',
	],
	// webpack, not Turbopack (`next build --webpack`): the stores import `./x.js` for `./x.ts`, as TypeScript's NodeNext
	// resolution wants, and only webpack maps those (resolve.extensionAlias; Turbopack: vercel/next.js#82945).
	webpack(config) {
		config.resolve.extensionAlias = {'.js': ['.ts', '.js']};
		// The stores sit outside this app: let them find this app's packages (connection-guard) too.
		config.resolve.modules = [...(config.resolve.modules ?? ['node_modules']), `${appDir}node_modules`];
		return config;
	},
};

export default nextConfig;
