import {defineConfig, type Options} from 'tsup';

const shared: Options = {
	entry: ['src/index.ts'],
	dts: true,
	target: 'node20',
};

export default defineConfig([
	{...shared, format: 'esm'},
	{
		...shared,
		format: 'cjs',
		// p-memoize and leven are ESM-only. Node 20's require(esm) hands back a namespace without `__esModule`, which breaks
		// the default import in a CJS bundle, so the require() build carries its own copies of p-memoize, mimic-function and
		// leven (~2.5 KB).
		noExternal: ['p-memoize', 'mimic-function', 'leven'],
	},
]);
