#!/usr/bin/env node
// Builds what `npx connection-guard add <component>` copies into an app (bin/connection-guard.mjs): for each component
// of bin/components.json, the TypeScript files its entries import (followed through relative imports, so a helper file
// added or removed needs no change here), compiled to plain JavaScript as ESM and as CommonJS (TypeScript's own
// transpiler: comments kept, types gone), and templates/components.json naming the files and the packages they import.
// Part of `npm run build`, so `npm pack`, `npm publish` and a git install ship it; templates/ is not committed.
import {mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import {builtinModules} from 'node:module';
import {join, posix, resolve} from 'node:path';
import ts from 'typescript';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'templates');
const components = JSON.parse(readFileSync(join(root, 'bin', 'components.json'), 'utf8'));
const builtins = new Set(builtinModules);

/** `@scope/name/sub` → `@scope/name`, `name/sub` → `name`; undefined for Node's built-ins. */
function packageOf(specifier) {
	if (specifier.startsWith('node:') || builtins.has(specifier)) {
		return undefined;
	}

	const parts = specifier.split('/');
	return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

const importsOf = source => ts.preProcessFile(source, true, true).importedFiles.map(({fileName}) => fileName);

/** `import.meta`, `__dirname` or `__filename` where the code (not a comment) uses it, else undefined. */
function findsFilesBeside(file, source) {
	let found;
	const visit = node => {
		if (ts.isMetaProperty(node) && node.keywordToken === ts.SyntaxKind.ImportKeyword) {
			found ??= 'import.meta';
		} else if (ts.isIdentifier(node) && (node.text === '__dirname' || node.text === '__filename')) {
			found ??= node.text;
		}

		ts.forEachChild(node, visit);
	};

	visit(ts.createSourceFile(file, source, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
	return found;
}

/** The entries and every file they reach through relative imports (`./x.js` → `x.ts`), in name order. */
function closure(sourceDir, entries) {
	const files = new Set();
	const pending = [...entries];
	while (pending.length > 0) {
		const file = pending.pop();
		if (files.has(file)) {
			continue;
		}

		let source;
		try {
			source = readFileSync(join(sourceDir, file), 'utf8');
		} catch (error) {
			throw new Error(`${posix.join(sourceDir, file)}: cannot read it (${error.code ?? error.message}); fix bin/components.json or the import`, {cause: error});
		}

		// The copied files run as ESM and as CommonJS, from src/ or from a build's output: nothing may find files
		// beside itself.
		const beside = findsFilesBeside(file, source);
		if (beside) {
			throw new Error(`${file}: uses \`${beside}\`, which the ${beside === 'import.meta' ? 'CommonJS' : 'ESM'} copy does not have`);
		}

		files.add(file);
		for (const specifier of importsOf(source)) {
			if (specifier.startsWith('.')) {
				const target = posix.normalize(posix.join(posix.dirname(file), specifier.replace(/\.js$/, '.ts')));
				if (target.startsWith('..')) {
					throw new Error(`${file}: imports ${specifier}, outside the component's folder`);
				}

				pending.push(target);
			}
		}
	}

	return [...files].sort();
}

const formats = {
	esm: ts.ModuleKind.ESNext,
	cjs: ts.ModuleKind.CommonJS,
};

rmSync(out, {recursive: true, force: true});
const manifest = {};
for (const [name, component] of Object.entries(components)) {
	const sourceDir = join(root, component.source);
	const files = closure(sourceDir, component.entries);
	const typePackages = new Set();
	const runtimePackages = new Set();
	for (const file of files) {
		const source = readFileSync(join(sourceDir, file), 'utf8');
		for (const specifier of importsOf(source)) {
			const package_ = specifier.startsWith('.') ? undefined : packageOf(specifier);
			if (package_) {
				typePackages.add(package_);
			}
		}

		for (const [format, module] of Object.entries(formats)) {
			const {outputText, diagnostics} = ts.transpileModule(source, {
				fileName: file,
				reportDiagnostics: true,
				compilerOptions: {module, target: ts.ScriptTarget.ES2022, esModuleInterop: true, isolatedModules: true},
			});
			if (diagnostics.length > 0) {
				throw new Error(`${file}: ${ts.formatDiagnostics(diagnostics, {getCanonicalFileName: f => f, getCurrentDirectory: () => root, getNewLine: () => '\n'})}`);
			}

			const target = join(out, name, format, file.replace(/\.ts$/, '.js'));
			mkdirSync(join(target, '..'), {recursive: true});
			writeFileSync(target, outputText);
			if (format === 'esm') {
				for (const specifier of importsOf(outputText)) {
					const package_ = specifier.startsWith('.') ? undefined : packageOf(specifier);
					if (package_) {
						runtimePackages.add(package_);
					}
				}
			}
		}
	}

	manifest[name] = {
		...component,
		files,
		// What the copied files import: TypeScript needs every package (types too); the JavaScript copies only these.
		packages: {ts: [...typePackages].sort(), js: [...runtimePackages].sort()},
	};
}

writeFileSync(join(out, 'components.json'), `${JSON.stringify(manifest, null, '\t')}\n`);
for (const [name, {files, packages}] of Object.entries(manifest)) {
	console.log(`templates/${name}: ${files.join(', ')} (imports ${packages.ts.join(', ')}; at run time ${packages.js.join(', ')})`);
}
