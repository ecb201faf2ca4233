import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, parseJson } from '../../../governor/rules/json-parse.js';

describe('parseJson', () => {
  it.each([
    '{}',
    '[]',
    ' {"a": [1, -2.5e3, 0, true, false, null, "x\\u00e9\\n\\"q\\""], "b": {"c": {}}} ',
    '"just a string"',
    '0',
  ])('parses %j exactly as JSON.parse does', (text) => {
    expect(parseJson(text)).toEqual({ ok: true, value: JSON.parse(text) });
  });

  it('ignores a leading byte order mark', () => {
    expect(parseJson('\ufeff{"a": 1}')).toEqual({ ok: true, value: { a: 1 } });
  });

  it.each([
    ['{"a": 1,\n "b": }', 2, 7, ['b'], "unexpected '}'", 'a value'],
    ['{"a": 1 "b": 2}', 1, 9, [], 'unexpected \'"\'', "',' or '}'"],
    ['{"a": [1, 2,]}', 1, 13, ['a', 2], "unexpected ']'", 'a value'],
    ['{"a": 01}', 1, 8, [], "unexpected '1'", "',' or '}'"],
    ["{'a': 1}", 1, 2, [], "unexpected '''", 'a property name in double quotes'],
    ['{"a": "line\nbreak"}', 1, 12, ['a'], 'unescaped control character in string', 'a line break written as \\n'],
    ['{"a": "\\x"}', 1, 8, ['a'], 'invalid escape sequence', 'one of'],
    ['{"a": "open', 1, 7, ['a'], 'unterminated string', 'a closing double quote'],
    ['{"a": 1} x', 1, 10, [], "unexpected 'x' after the end of the document", 'end of file'],
    ['{"a": NaN}', 1, 7, ['a'], "unquoted word 'NaN'", 'a string in double quotes'],
    ['{"a": 1, "a": 2}', 1, 10, ['a'], 'property "a" appears twice in one object', 'each property at most once'],
  ])('locates the problem in %j', (text, line, column, path, message, expected) => {
    const result = parseJson(text);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.problem).toMatchObject({ line, column, path });
    expect(result.problem.message).toContain(message);
    expect(result.problem.message).toContain(`at line ${line}, column ${column}`);
    expect(result.problem.expected).toContain(expected);
  });

  it(`accepts ${MAX_JSON_DEPTH} levels of nesting and rejects one more`, () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
    expect(parseJson(nested(MAX_JSON_DEPTH)).ok).toBe(true);
    expect(parseJson(nested(MAX_JSON_DEPTH + 1))).toMatchObject({ ok: false, problem: { column: MAX_JSON_DEPTH + 1 } });
  });
});
