#!/usr/bin/env node
// `npx connection-guard add rate-limit`: copies the example rate-limit stores into the app in the current folder, as
// TypeScript or as JavaScript (ESM or CommonJS) to match it, and says what else the app needs. The files become the
// app's own code (like shadcn/ui's components): nothing is overwritten without --force. Plain Node.js, no dependency.
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import {dirname, join, relative, resolve} from 'node:path';
import {parseArgs} from 'node:util';

const packageRoot = resolve(import.meta.dirname, '..');
const {version} = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8'));

const usage = `Usage: npx connection-guard add <component> [options]

Copies a component's source files into your app (run it in the folder of your app's package.json).

Components:
COMPONENTS
Options:
  --dir <folder>             where to put the files (default: src/<component> if src/ exists, else <component>)
  --format <ts|esm|cjs>      TypeScript, or JavaScript as ES modules or CommonJS (default: TypeScript if tsconfig.json
                             exists, else what package.json "type" says)
  --prisma <sqlite|postgres> the database of the Prisma fallback (default: read from prisma/schema.prisma)
  --force                    overwrite files that differ from the ones it would write
  --dry-run                  say what it would do, write nothing
  -h, --help                 this text`;

class UsageError extends Error {}

function readComponents() {
	const file = join(packageRoot, 'templates', 'components.json');
	if (!existsSync(file)) {
		throw new Error(`${relative(process.cwd(), file)} is missing: in a checkout of connection-guard, run \`npm run build\` first`);
	}

	return JSON.parse(readFileSync(file, 'utf8'));
}

function readJson(file) {
	try {
		return JSON.parse(readFileSync(file, 'utf8'));
	} catch (error) {
		throw new Error(`Cannot read ${file}: ${error.message}`, {cause: error});
	}
}

/** The app's schema.prisma, where Prisma looks for it by default; undefined when there is none. */
function findSchema(app, appPackage) {
	const configured = appPackage.prisma?.schema;
	for (const candidate of [configured, 'prisma/schema.prisma', 'schema.prisma'].filter(Boolean)) {
		const file = join(app, candidate);
		if (existsSync(file)) {
			return {file: candidate, text: readFileSync(file, 'utf8')};
		}
	}

	return undefined;
}

/** `sqlite`/`postgres` from the schema's datasource block; the raw provider for anything else; undefined for none. */
function providerOf(schemaText) {
	const datasource = /datasource\s+\w+\s*\{([^}]*)\}/.exec(schemaText);
	const provider = datasource && /^\s*provider\s*=\s*"([^"]+)"/m.exec(datasource[1]);
	if (!provider) {
		return undefined;
	}

	return {postgresql: 'postgres', postgres: 'postgres', sqlite: 'sqlite'}[provider[1]] ?? provider[1];
}

/** The `model RateLimitHit { … }` block of the example schema, comments left out. */
function rateLimitModel() {
	const schema = readFileSync(join(packageRoot, 'examples', 'rate-limit', 'prisma', 'sqlite', 'schema.prisma'), 'utf8');
	const model = /^model RateLimitHit \{\n[\s\S]*?^\}$/m.exec(schema);
	if (!model) {
		throw new Error('The example schema has no RateLimitHit model');
	}

	return model[0].split('\n').filter(line => !line.trim().startsWith('//')).join('\n');
}

/** Whether `"name": true` is set, outside `//` comments (tsconfig.json is JSON with comments). */
const jsoncFlag = (text, name) => new RegExp(`^[^/\\n]*"${name}"\\s*:\\s*true`, 'm').test(text);

function add(componentName, options) {
	const components = readComponents();
	const component = components[componentName];
	if (!component) {
		throw new UsageError(`Unknown component \`${componentName}\`; there is: ${Object.keys(components).join(', ')}`);
	}

	const app = process.cwd();
	const appPackageFile = join(app, 'package.json');
	if (!existsSync(appPackageFile)) {
		throw new UsageError('No package.json here: run this in the folder of your app\'s package.json');
	}

	const appPackage = readJson(appPackageFile);
	const esmPackage = appPackage.type === 'module';
	const tsconfig = join(app, 'tsconfig.json');
	const format = options.format ?? (existsSync(tsconfig) ? 'ts' : (esmPackage ? 'esm' : 'cjs'));
	if (!['ts', 'esm', 'cjs'].includes(format)) {
		throw new UsageError(`Expected --format to be ts, esm or cjs, got \`${format}\``);
	}

	const dir = options.dir ?? (existsSync(join(app, 'src')) ? join('src', component.dir) : component.dir);
	// JavaScript files take the package's default extension, or .mjs/.cjs when the format is not the package's.
	const extension = format === 'ts' ? '.ts' : (format === 'esm') === esmPackage ? '.js' : (format === 'esm' ? '.mjs' : '.cjs');
	const describeFormat = format === 'ts'
		? `TypeScript (${options.format ? '--format ts' : 'tsconfig.json found'}), ${esmPackage ? 'ESM' : 'CommonJS'} package`
		: `JavaScript, ${format === 'esm' ? 'ES modules' : 'CommonJS'} (${options.format ? `--format ${format}` : `package.json "type": "${appPackage.type ?? 'commonjs'}"`})`;

	const writes = component.files.map(file => {
		const source = format === 'ts'
			? readFileSync(join(packageRoot, component.source, file), 'utf8')
			: readFileSync(join(packageRoot, 'templates', componentName, format, file.replace(/\.ts$/, '.js')), 'utf8')
				.replaceAll(/(["'])(\.\.?\/[^"']+)\.js\1/g, (_, quote, path) => `${quote}${path}${extension}${quote}`);
		const header = `// From connection-guard ${version} (${component.source}/${file}), copied by \`npx connection-guard add ${componentName}\`: yours to change.\n`;
		const target = join(dir, file.replace(/\.ts$/, extension));
		const absolute = join(app, target);
		const content = header + source;
		const existing = existsSync(absolute) ? readFileSync(absolute, 'utf8') : undefined;
		const status = existing === undefined ? 'create' : (existing === content ? 'unchanged' : 'differs');
		return {target, absolute, content, status};
	});

	console.log(`connection-guard add ${componentName}: ${component.description}`);
	console.log(`  as ${describeFormat}, into ${dir}/`);
	const conflicts = writes.filter(write => write.status === 'differs');
	if (conflicts.length > 0 && !options.force) {
		console.error(`\nThese files exist and differ from what it would write; nothing was written (--force overwrites them):\n${conflicts.map(({target}) => `  ${target}`).join('\n')}`);
		process.exitCode = 1;
		return;
	}

	for (const write of writes) {
		const verb = {create: 'created', unchanged: 'unchanged', differs: 'overwrote'}[write.status];
		if (!options.dryRun && write.status !== 'unchanged') {
			mkdirSync(dirname(write.absolute), {recursive: true});
			writeFileSync(write.absolute, write.content);
		}

		console.log(`  ${options.dryRun && write.status !== 'unchanged' ? `would have ${verb}` : verb} ${write.target}`);
	}

	// What the app still needs, in the order of the guide (docs/rate-limiting-in-your-app.md).
	const steps = [];
	const installed = new Set(Object.keys({...appPackage.dependencies, ...appPackage.devDependencies}));
	const missing = component.packages[format === 'ts' ? 'ts' : 'js'].filter(name => !installed.has(name));
	if (missing.length > 0) {
		steps.push(`Install what the files import: npm install ${missing.join(' ')}`);
	}

	if (format === 'ts' && !esmPackage && existsSync(tsconfig) && jsoncFlag(readFileSync(tsconfig, 'utf8'), 'verbatimModuleSyntax')) {
		steps.push('tsconfig.json sets "verbatimModuleSyntax": true, which refuses `import` in a CommonJS package (TS1295):\n     set it to false, or make the package ESM ("type": "module")');
	}

	const schema = findSchema(app, appPackage);
	const provider = options.prisma ?? (schema && providerOf(schema.text));
	if (options.prisma && !['sqlite', 'postgres'].includes(options.prisma)) {
		throw new UsageError(`Expected --prisma to be sqlite or postgres, got \`${options.prisma}\``);
	}

	if (provider !== undefined && !['sqlite', 'postgres'].includes(provider)) {
		steps.push(`${schema.file} uses the \`${provider}\` provider: the Prisma fallback's SQL is written for SQLite and PostgreSQL only`);
	} else {
		const model = rateLimitModel();
		if (!schema?.text.match(/^\s*model\s+RateLimitHit\s*\{/m)) {
			steps.push(`Add the model to ${schema?.file ?? 'your schema.prisma'}, then run \`npx prisma generate\`:\n\n${model.replaceAll(/^(?=.)/gm, '     ')}\n`);
		}

		// The driver adapter's `provider` is 'sqlite' or 'postgres': the guide passes it.
		const providerArgument = provider === undefined ? 'adapter.provider' : `'${provider}'`;
		steps.push(`Create the table before the first request (idempotent; or make it a \`prisma migrate\` migration of yours):\n     await applyRateLimitMigrations(prisma, ${providerArgument});`);
	}

	steps.push(`The app, step by step: ${relative(app, join(packageRoot, component.docs))}`);
	console.log(`\nNext:\n${steps.map((step, index) => `  ${index + 1}. ${step}`).join('\n')}`);
}

function main(argv) {
	const {values, positionals} = parseArgs({
		args: argv,
		allowPositionals: true,
		options: {
			dir: {type: 'string'},
			format: {type: 'string'},
			prisma: {type: 'string'},
			force: {type: 'boolean', default: false},
			'dry-run': {type: 'boolean', default: false},
			help: {type: 'boolean', short: 'h', default: false},
		},
	});
	const [command, component, ...rest] = positionals;
	if (values.help || command === undefined) {
		const list = Object.entries(readComponents()).map(([name, {description}]) => `  ${name.padEnd(26)} ${description}`).join('\n');
		console.log(usage.replace('COMPONENTS', list));
		return;
	}

	if (command !== 'add') {
		throw new UsageError(`Unknown command \`${command}\`; the one command is \`add\``);
	}

	if (component === undefined || rest.length > 0) {
		throw new UsageError('Expected one component: npx connection-guard add <component>');
	}

	add(component, {dir: values.dir, format: values.format, prisma: values.prisma, force: values.force, dryRun: values['dry-run']});
}

try {
	main(process.argv.slice(2));
} catch (error) {
	console.error(`connection-guard: ${error.message}`);
	if (error instanceof UsageError || error.code?.startsWith('ERR_PARSE_ARGS')) {
		console.error('Run `npx connection-guard --help` for the usage.');
		process.exitCode = 2;
	} else {
		process.exitCode = 1;
	}
}
