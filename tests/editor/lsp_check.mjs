#!/usr/bin/env node
// Editor check: the real YAML language server (the engine of VS Code's YAML extension)
// validates, completes and documents policy files with schema/orgplan.schema.json, and
// agrees with `orgplan validate` on where the schema errors are.
//
// Speaks LSP over stdio to `yaml-language-server --stdio` (env YAML_LS, default
// target/ci-tools/node_modules/.bin/yaml-language-server), and runs the built CLI
// (env ORGPLAN_BIN, default target/debug/orgplan). No dependency beyond Node 20 and the
// server itself; no network (the schema store and the Kubernetes CRD store are off).
// Prints `editor: N passed, M failed` last and exits non-zero when any check failed.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const YAML_LS =
  process.env.YAML_LS || path.join(ROOT, 'target/ci-tools/node_modules/.bin/yaml-language-server');
const ORGPLAN_BIN = process.env.ORGPLAN_BIN || path.join(ROOT, 'target/debug/orgplan');
const TIMEOUT_MS = Number(process.env.EDITOR_TIMEOUT_MS || 60_000);
const SCHEMA = path.join(ROOT, 'schema/orgplan.schema.json');
const SCHEMA_URI = pathToFileURL(SCHEMA).href;
// Policy tests (`*.test.yaml`) have their own schema, named by their own modeline.
const TEST_SCHEMA = path.join(ROOT, 'schema/orgplan-test.schema.json');
const isTestFile = (rel) => /\.test\.ya?ml$/.test(rel);
const schemaOf = (rel) => (isTestFile(rel) ? TEST_SCHEMA : SCHEMA);

// Valid policies (and their tests): every file must carry the modeline and get no
// diagnostic at all.
const VALID_DIRS = ['policies'];
// Broken policies: the lines of the server's errors must be the lines of orgplan's
// `schema` diagnostics. `withModeline` folders prove the modeline; the others are the
// CLI's snapshot fixtures, which have none, so the schema is associated through the
// `yaml.schemas` setting, as a user without modelines would configure VS Code.
const BROKEN_DIRS = [
  { dir: 'tests/fixtures/editor', withModeline: true },
  // A valid policy and a broken test file.
  { dir: 'tests/fixtures/editor-tests', withModeline: true },
  { dir: 'tests/fixtures/diagnostics/schema', withModeline: false },
];
const MODELINE = /^# yaml-language-server: \$schema=(\S+)\s*$/m;

let passed = 0;
let failed = 0;
function check(ok, name, detail = '') {
  if (ok) {
    passed += 1;
    console.log(`ok   ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL ${name}${detail ? `\n       ${detail.replaceAll('\n', '\n       ')}` : ''}`);
  }
}
function finish(code) {
  console.log(`editor: ${passed} passed, ${failed} failed`);
  process.exit(code ?? (failed === 0 ? 0 : 1));
}
function die(message) {
  console.error(`editor: ${message}`);
  failed += 1;
  stopServer();
  finish(1);
}

const yamlFiles = (dir) =>
  readdirSync(path.join(ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => path.join(dir, f));
const uriOf = (rel) => pathToFileURL(path.join(ROOT, rel)).href;

// ---------------------------------------------------------------------------- preflight
let server = null;
let serverExited = false;
let stopping = false;
if (!existsSync(YAML_LS)) die(`yaml-language-server not found at ${YAML_LS} (run tests/editor/run.sh, or set YAML_LS)`);
if (!existsSync(ORGPLAN_BIN)) die(`orgplan binary not found at ${ORGPLAN_BIN} (cargo build, or set ORGPLAN_BIN)`);

// --------------------------------------------------------------------------- LSP client
server = spawn(YAML_LS, ['--stdio'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
server.on('exit', (code, signal) => {
  serverExited = true;
  if (!stopping) die(`yaml-language-server exited early (code ${code}, signal ${signal})`);
});
server.on('error', (err) => die(`cannot start ${YAML_LS}: ${err.message}`));
let stderrTail = '';
server.stderr.on('data', (d) => {
  stderrTail = (stderrTail + d.toString()).slice(-4000);
});

function stopServer() {
  stopping = true;
  if (server && !serverExited) server.kill('SIGKILL');
}

const overall = setTimeout(() => {
  die(`timed out after ${TIMEOUT_MS} ms${stderrTail ? `; server stderr:\n${stderrTail}` : ''}`);
}, TIMEOUT_MS);
overall.unref();

function send(msg) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...msg }), 'utf8');
  server.stdin.write(`Content-Length: ${body.length}\r\n\r\n`);
  server.stdin.write(body);
}

let nextId = 1;
const pending = new Map();
function request(method, params) {
  const id = nextId++;
  send({ id, method, params });
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject, method }));
}
const notify = (method, params) => send({ method, params });

const SETTINGS = {
  yaml: {
    validate: true,
    hover: true,
    completion: true,
    format: { enable: false },
    schemaStore: { enable: false }, // no network: the catalog lives on the internet
    kubernetesCRDStore: { enable: false },
    schemas: Object.fromEntries([
      [SCHEMA_URI, BROKEN_DIRS.filter((b) => !b.withModeline).map((b) => `${b.dir}/*.yaml`)],
    ]),
  },
  http: { proxy: '', proxyStrictSSL: false },
  '[yaml]': {},
  editor: {},
};

const diagnostics = new Map(); // uri -> latest Diagnostic[]
let lastDiagnosticsAt = 0;
let configurationAnswered = false;
function onMessage(msg) {
  if (msg.id !== undefined && msg.method === undefined) {
    const p = pending.get(msg.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
    else p.resolve(msg.result);
    return;
  }
  if (msg.id !== undefined) {
    // a request from the server
    let result = null;
    if (msg.method === 'workspace/configuration') {
      result = msg.params.items.map((item) => SETTINGS[item.section] ?? null);
      configurationAnswered = true;
    }
    send({ id: msg.id, result });
    return;
  }
  if (msg.method === 'textDocument/publishDiagnostics') {
    diagnostics.set(msg.params.uri, msg.params.diagnostics);
    lastDiagnosticsAt = Date.now();
  }
}

let buf = Buffer.alloc(0);
server.stdout.on('data', (chunk) => {
  buf = Buffer.concat([buf, chunk]);
  for (;;) {
    const headerEnd = buf.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const header = buf.subarray(0, headerEnd).toString('ascii');
    const m = /Content-Length: (\d+)/i.exec(header);
    if (!m) die(`bad LSP header from server: ${JSON.stringify(header)}`);
    const len = Number(m[1]);
    if (buf.length < headerEnd + 4 + len) return;
    const body = buf.subarray(headerEnd + 4, headerEnd + 4 + len).toString('utf8');
    buf = buf.subarray(headerEnd + 4 + len);
    onMessage(JSON.parse(body));
  }
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function waitFor(pred, what, ms = TIMEOUT_MS) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) die(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------- orgplan's view
function orgplanSchemaLines(dir) {
  const r = spawnSync(ORGPLAN_BIN, ['validate', '-p', dir, '--format', 'json'], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  if (r.error) die(`cannot run ${ORGPLAN_BIN}: ${r.error.message}`);
  let out;
  try {
    out = JSON.parse(r.stdout);
  } catch {
    die(`orgplan validate -p ${dir} printed no JSON (exit ${r.status}):\n${r.stdout}${r.stderr}`);
  }
  const byFile = new Map();
  const other = [];
  for (const d of out.diagnostics) {
    if (d.code !== 'schema') {
      other.push(`${d.file}:${d.line}: ${d.code}`);
      continue;
    }
    const rel = path.relative(ROOT, path.resolve(ROOT, d.file));
    if (!byFile.has(rel)) byFile.set(rel, new Set());
    byFile.get(rel).add(d.line);
  }
  return { status: r.status, byFile, other };
}

const fmtLines = (s) => `{${[...s].sort((a, b) => a - b).join(', ')}}`;
const fmtDiag = (d) => `${d.range.start.line + 1}:${d.range.start.character + 1} ${d.message}`;

// -------------------------------------------------------------------------------- main
async function main() {
  const init = await request('initialize', {
    processId: process.pid,
    rootUri: pathToFileURL(ROOT).href,
    workspaceFolders: [{ uri: pathToFileURL(ROOT).href, name: path.basename(ROOT) }],
    capabilities: {
      workspace: { configuration: true, workspaceFolders: true, didChangeConfiguration: {} },
      textDocument: {
        publishDiagnostics: { relatedInformation: true },
        completion: { completionItem: { snippetSupport: true, documentationFormat: ['markdown', 'plaintext'] } },
        hover: { contentFormat: ['markdown', 'plaintext'] },
        synchronization: { didSave: true },
      },
    },
    initializationOptions: {},
    locale: 'en',
  });
  check(
    !!init?.capabilities?.completionProvider && !!init?.capabilities?.hoverProvider,
    'server offers completion and hover',
    JSON.stringify(init?.capabilities),
  );
  notify('initialized', {});
  await waitFor(() => configurationAnswered, 'the server to pull its settings (workspace/configuration)', 15_000);
  // Also push them, as VS Code does on every settings change; the server pulls again.
  notify('workspace/didChangeConfiguration', { settings: SETTINGS });
  await sleep(200);

  const valid = VALID_DIRS.flatMap(yamlFiles);
  const broken = BROKEN_DIRS.flatMap((b) => yamlFiles(b.dir).map((f) => ({ ...b, file: f })));
  const all = [...valid, ...broken.map((b) => b.file)];
  if (valid.length === 0) die(`no YAML file in ${VALID_DIRS.join(', ')}`);

  for (const rel of all) {
    notify('textDocument/didOpen', {
      textDocument: { uri: uriOf(rel), languageId: 'yaml', version: 1, text: readFileSync(path.join(ROOT, rel), 'utf8') },
    });
  }
  await waitFor(() => all.every((rel) => diagnostics.has(uriOf(rel))), 'diagnostics for every opened file');
  // Validation is re-run when settings land; wait until the diagnostics are quiet.
  await waitFor(() => Date.now() - lastDiagnosticsAt > 750, 'diagnostics to settle');

  // Each file is associated with orgplan's schema (by its modeline, or by the setting);
  // a test file with the test schema.
  for (const rel of all) {
    const schemas = await request('yaml/get/jsonSchema', uriOf(rel));
    const uris = (schemas || []).map((s) => s.uri);
    const want = schemaOf(rel);
    check(
      uris.includes(pathToFileURL(want).href),
      `${rel}: associated with ${path.relative(ROOT, want)}`,
      `schemas: ${JSON.stringify(uris)}`,
    );
  }
  check(valid.some(isTestFile), `${VALID_DIRS.join(', ')}: has a test file (*.test.yaml) to check`);
  check(
    broken.some((b) => isTestFile(b.file)),
    'the broken fixtures have a test file (*.test.yaml) to check',
  );

  // Valid policy files: the modeline is there and the server reports nothing.
  for (const rel of valid) {
    const text = readFileSync(path.join(ROOT, rel), 'utf8');
    const m = MODELINE.exec(text.split('\n')[0]);
    const want = path.relative(path.dirname(path.join(ROOT, rel)), schemaOf(rel));
    check(m && m[1] === want, `${rel}: first line is the modeline \`$schema=${want}\``, `first line: ${text.split('\n')[0]}`);
    const d = diagnostics.get(uriOf(rel));
    check(d.length === 0, `${rel}: no diagnostics`, d.map(fmtDiag).join('\n'));
  }

  // Broken fixtures: the server's error lines are orgplan's `schema` lines, file by file.
  for (const b of BROKEN_DIRS) {
    const cli = orgplanSchemaLines(b.dir);
    check(cli.status === 3, `orgplan validate -p ${b.dir}: exit 3 (invalid)`, `exit ${cli.status}`);
    check(cli.other.length === 0, `orgplan validate -p ${b.dir}: schema errors only`, cli.other.join('\n'));
    let total = 0;
    for (const rel of yamlFiles(b.dir)) {
      if (b.withModeline) {
        const m = MODELINE.exec(readFileSync(path.join(ROOT, rel), 'utf8').split('\n')[0]);
        check(!!m, `${rel}: first line is a modeline`);
      }
      const want = cli.byFile.get(rel) ?? new Set();
      total += want.size;
      const errs = diagnostics.get(uriOf(rel)).filter((d) => d.severity === 1);
      const got = new Set(errs.map((d) => d.range.start.line + 1));
      const same = want.size === got.size && [...want].every((l) => got.has(l));
      check(
        same,
        `${rel}: server error lines ${fmtLines(got)} = orgplan schema lines ${fmtLines(want)}`,
        errs.map(fmtDiag).join('\n'),
      );
    }
    check(total > 0, `${b.dir}: has schema errors to compare`);
  }

  // Completion inside `org:` offers the schema's properties. policies/org.yaml already sets
  // every one of them (so the server rightly offers none there): the probe is an unsaved
  // buffer in policies/ with the same modeline and an org that has only a name, the
  // cursor on a fresh indented line, as a user starts a new key.
  const orgFile = 'policies/org.yaml';
  const orgLines = readFileSync(path.join(ROOT, orgFile), 'utf8').split('\n');
  const probeUri = uriOf('policies/__completion_probe__.yaml');
  const probeText = [orgLines[0], 'org:', '  name: Probe Co', '  ', ''].join('\n');
  notify('textDocument/didOpen', { textDocument: { uri: probeUri, languageId: 'yaml', version: 1, text: probeText } });
  const completion = await request('textDocument/completion', {
    textDocument: { uri: probeUri },
    position: { line: 3, character: 2 },
  });
  const items = Array.isArray(completion) ? completion : completion?.items || [];
  const labels = items.map((i) => i.label);
  for (const want of ['plan', 'seats', 'sso', 'safety']) {
    check(labels.includes(want), `completion inside \`org:\` offers \`${want}\``, `offered: ${JSON.stringify(labels)}`);
  }
  const planItem = items.find((i) => i.label === 'plan');
  const planDoc = typeof planItem?.documentation === 'string' ? planItem.documentation : planItem?.documentation?.value ?? '';
  check(planDoc.includes('Subscription plan'), 'the `plan` completion item carries its schema description', JSON.stringify(planItem));
  check(!labels.includes('name'), 'completion does not offer `name` again (already set)', `offered: ${JSON.stringify(labels)}`);
  notify('textDocument/didClose', { textDocument: { uri: probeUri } });

  // Completion of an enum value: `plan: ` offers `team` and `enterprise`.
  const planLine = orgLines.findIndex((l) => /^ {2}plan:/.test(l));
  const enumUri = uriOf('policies/__enum_probe__.yaml');
  const enumLines = [...orgLines];
  enumLines[planLine] = '  plan: ';
  notify('textDocument/didOpen', {
    textDocument: { uri: enumUri, languageId: 'yaml', version: 1, text: enumLines.join('\n') },
  });
  const enumCompletion = await request('textDocument/completion', {
    textDocument: { uri: enumUri },
    position: { line: planLine, character: 8 },
  });
  const enumLabels = (Array.isArray(enumCompletion) ? enumCompletion : enumCompletion?.items || []).map((i) => i.label);
  check(
    enumLabels.includes('team') && enumLabels.includes('enterprise'),
    'completion of `plan:` offers `team` and `enterprise`',
    `offered: ${JSON.stringify(enumLabels)}`,
  );
  notify('textDocument/didClose', { textDocument: { uri: enumUri } });

  // Hover on a key shows the schema's description of it. Where a property is
  // `{description, allOf: [{$ref}]}` (how orgplan keeps descriptions next to a $ref in
  // draft-07) this server would show the definition's own description instead, so the
  // schema keeps descriptions on properties only; the check below would notice a
  // definition's text coming back.
  const schema = JSON.parse(readFileSync(SCHEMA, 'utf8'));
  const hoverText = (prop) => {
    const ref = prop.allOf?.[0]?.$ref;
    const def = ref ? (schema.definitions[ref.split('/').pop()] ?? testSchema.definitions[ref.split('/').pop()]) : undefined;
    return def?.description ? { text: def.description, from: `definition ${ref.split('/').pop()}` } : { text: prop.description, from: 'property' };
  };
  const orgProps = schema.definitions.Org.properties;
  const testSchema = JSON.parse(readFileSync(TEST_SCHEMA, 'utf8'));
  const hoverCases = [
    { file: 'policies/org.yaml', key: 'enforced', line: /^ {4}enforced:/, prop: schema.definitions.Sso.properties.enforced },
    { file: 'policies/org.yaml', key: 'name', line: /^ {2}name:/, prop: orgProps.name },
    { file: 'policies/org.yaml', key: 'seats', line: /^ {2}seats:/, prop: orgProps.seats },
    { file: 'policies/org.yaml', key: 'plan', line: /^ {2}plan:/, prop: orgProps.plan },
    { file: 'policies/org.yaml', key: 'org', line: /^org:/, prop: schema.properties.org },
    { file: 'policies/access.test.yaml', key: 'expect', line: /^ {4}expect:/, prop: testSchema.definitions.Test.properties.expect },
    { file: 'policies/access.test.yaml', key: 'where', line: /^ {4}where:/, prop: testSchema.definitions.Test.properties.where },
  ];
  for (const h of hoverCases) {
    const lines = readFileSync(path.join(ROOT, h.file), 'utf8').split('\n');
    const line = lines.findIndex((l) => h.line.test(l));
    const want = hoverText(h.prop);
    if (line < 0 || !want.text) die(`hover probe for \`${h.key}\` not found in ${h.file} or has no description`);
    const character = lines[line].indexOf(h.key) + 1;
    const hover = await request('textDocument/hover', { textDocument: { uri: uriOf(h.file) }, position: { line, character } });
    const contents = hover?.contents;
    const text =
      typeof contents === 'string'
        ? contents
        : Array.isArray(contents)
          ? contents.map((c) => c.value ?? c).join('\n')
          : (contents?.value ?? '');
    // The server renders markdown (and escapes backticks in lists): compare the first
    // line of the description.
    const firstLine = want.text.split('\n')[0];
    const unescaped = text.replace(/\\`/g, '`');
    check(
      unescaped.includes(firstLine),
      `hover on \`${h.key}\` (${h.file}:${line + 1}) shows the schema description (${want.from})`,
      `expected: ${JSON.stringify(firstLine)}\nhover: ${JSON.stringify(text)}`,
    );
  }

  // Orderly shutdown; the timer and SIGKILL below are the backstop.
  await Promise.race([request('shutdown', null), sleep(2000)]);
  notify('exit', null);
  stopping = true;
  await Promise.race([new Promise((r) => server.once('exit', r)), sleep(2000)]);
  stopServer();
  clearTimeout(overall);
  finish();
}

main().catch((err) => die(err.stack || String(err)));
