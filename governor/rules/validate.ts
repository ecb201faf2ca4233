import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { Engine, type RuleProperties, type TopLevelCondition } from 'json-rules-engine';
import { describeError } from '../errors.js';
import { checkRuleSet, collectSharedConditions, type ParsedDoc } from './checks.js';
import { EMPTY_FACTS, addCatalogFacts, runEngine } from './fact-source.js';
import { parseJson } from './json-parse.js';
import { jsonPath } from './json-path.js';
import { listRuleFiles, type RuleFileEntry } from './listing.js';
import { ruleSchema } from './schema.js';
import { describeSchemaErrors } from './schema-errors.js';
import type { LoadedRule, LoadedRuleSet, RuleDoc, RuleError, RuleFileDoc, RuleFileText, ValidationResult } from './types.js';

/** Largest rule file accepted, in bytes. */
export const MAX_RULE_FILE_BYTES = 256 * 1024;

/** Rule files that passed the schema. */
type RuleFileDocs = ReadonlyArray<{ file: string; doc: RuleFileDoc }>;

/** A rule file after reading and parsing: its document, or why there is none. */
interface ParsedFile {
  file: string;
  doc?: unknown;
  errors: RuleError[];
}

let schemaValidator: ValidateFunction | undefined;

/**
 * Validates a rule directory's *.json files (see isRuleFileName) as one set. A directory that
 * cannot be listed or holds no rule file is an error (reported against the directory).
 * File names in errors and in the set are base names.
 */
export async function validateRuleDir(dir: string): Promise<ValidationResult> {
  let entries;
  try {
    entries = await listRuleFiles(dir);
  } catch (err) {
    return failed([{ file: dir, path: '$', message: `cannot list the rule directory: ${describeError(err).message}`, expected: 'a readable directory' }]);
  }
  return validateListedFiles(dir, entries);
}

/** validateRuleDir for a listing already taken (the reloader validates the listing it compared). */
export async function validateListedFiles(dir: string, entries: readonly RuleFileEntry[]): Promise<ValidationResult> {
  if (entries.length === 0) {
    return failed([{ file: dir, path: '$', message: 'no rule files', expected: 'at least one *.json rule file (*.schema.json files are not rules)' }]);
  }
  const parsed = await Promise.all(
    entries.map(async ({ name, size }): Promise<ParsedFile> => {
      if (size > MAX_RULE_FILE_BYTES) return { file: name, errors: [tooLarge(name, size)] };
      try {
        return parseRuleFile({ file: name, text: await readFile(join(dir, name), 'utf8') });
      } catch (err) {
        return { file: name, errors: [{ file: name, path: '$', message: `cannot read: ${describeError(err).message}`, expected: 'a readable file' }] };
      }
    }),
  );
  return validateParsed(parsed);
}

/**
 * Validates rule files given as text, as one set (shared conditions and rule names span files).
 * Every check runs and every error is returned: JSON syntax (with line and column), the JSON
 * Schema, facts, operators, window params, value types, shared-condition references, duplicate
 * names; a set with none of those is then compiled and dry-run against an empty blackboard.
 * `ok` with a ruleSet exactly when there is no error.
 */
export async function validateRuleFiles(files: readonly RuleFileText[]): Promise<ValidationResult> {
  const sorted = [...files].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return validateParsed(sorted.map(parseRuleFile));
}

/** One line per error: `file:path: message (expected ...)`. */
export function formatRuleErrors(errors: readonly RuleError[]): string {
  return errors.map((e) => `${e.file}:${e.path}: ${e.message} (expected ${e.expected})`).join('\n');
}

function parseRuleFile({ file, text }: RuleFileText): ParsedFile {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_RULE_FILE_BYTES) return { file, errors: [tooLarge(file, bytes)] };
  const parsed = parseJson(text);
  if (parsed.ok) return { file, doc: parsed.value, errors: [] };
  const { problem } = parsed;
  return { file, errors: [{ file, path: jsonPath(problem.path), message: `JSON syntax: ${problem.message}`, expected: problem.expected }] };
}

async function validateParsed(parsed: readonly ParsedFile[]): Promise<ValidationResult> {
  const errors = parsed.flatMap((p) => p.errors);
  const withDocs = parsed.filter((p) => p.doc !== undefined) as ParsedDoc[];
  const validate = (schemaValidator ??= new Ajv({ allErrors: true, verbose: true, strictTypes: false }).compile(ruleSchema));
  for (const { file, doc } of withDocs) {
    if (!validate(doc)) errors.push(...describeSchemaErrors(file, doc, validate.errors ?? []));
  }
  const shared = collectSharedConditions(withDocs);
  errors.push(...shared.errors, ...checkRuleSet(withDocs, shared.sites));
  if (errors.length > 0) return failed(errors);

  // No error: every file parsed and passed the schema.
  const compiled = await compile(withDocs as RuleFileDocs);
  return 'errors' in compiled ? failed(compiled.errors) : { ok: true, ruleSet: compiled, errors: [] };
}

/**
 * Builds the engine of a checked set. Each rule is first compiled and dry-run on its own engine
 * against an empty blackboard, so a failure names its rule.
 */
async function compile(files: RuleFileDocs): Promise<LoadedRuleSet | { errors: RuleError[] }> {
  const shared = files.flatMap(({ doc }) => Object.entries(doc.conditions ?? {})) as Array<[string, TopLevelCondition]>;
  const rules: LoadedRule[] = [];
  const properties: RuleProperties[] = [];
  const errors: RuleError[] = [];
  for (const { file, doc } of files) {
    for (const [index, rule] of doc.rules.entries()) {
      const props = ruleProperties(rule);
      try {
        await runEngine(buildEngine([props], shared), EMPTY_FACTS);
      } catch (err) {
        errors.push({
          file,
          path: jsonPath(['rules', index]),
          message: `dry run against an empty blackboard failed: ${describeError(err).message}`,
          expected: 'a rule the engine can evaluate',
        });
      }
      properties.push(props);
      rules.push(
        Object.freeze({
          file,
          name: rule.name,
          ...(rule.description !== undefined && { description: rule.description }),
          priority: props.priority!,
          event: Object.freeze({ type: rule.event.type, params: props.event.params! }),
          order: rules.length,
        }),
      );
    }
  }
  if (errors.length > 0) return { errors };
  return Object.freeze({
    files: files.map((f) => f.file),
    rules: Object.freeze(rules) as LoadedRule[],
    conditions: shared.map(([name]) => name),
    engine: buildEngine(properties, shared),
  });
}

function ruleProperties(rule: RuleDoc): RuleProperties {
  return {
    name: rule.name,
    priority: rule.priority ?? 1,
    conditions: rule.conditions as TopLevelCondition,
    event: { type: rule.event.type, params: rule.event.params ?? {} },
  };
}

function buildEngine(rules: readonly RuleProperties[], shared: ReadonlyArray<[string, TopLevelCondition]>): Engine {
  const engine = new Engine([], { allowUndefinedFacts: false, allowUndefinedConditions: false });
  addCatalogFacts(engine);
  for (const [name, condition] of shared) engine.setCondition(name, condition);
  for (const rule of rules) engine.addRule(rule);
  return engine;
}

function tooLarge(file: string, bytes: number): RuleError {
  return {
    file,
    path: '$',
    message: `file is ${bytes} bytes, over the ${MAX_RULE_FILE_BYTES}-byte limit`,
    expected: `at most ${MAX_RULE_FILE_BYTES} bytes (split the rules over several files)`,
  };
}

function failed(errors: RuleError[]): ValidationResult {
  return { ok: false, errors };
}
