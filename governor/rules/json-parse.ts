import type { PathSegment } from './json-path.js';

/** Deepest nesting of objects and arrays a rule file may use. */
export const MAX_JSON_DEPTH = 64;

export interface JsonSyntaxProblem {
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units. */
  column: number;
  /** Where in the document the problem is (the container being read). */
  path: PathSegment[];
  message: string;
  expected: string;
}

export type JsonParseResult = { ok: true; value: unknown } | { ok: false; problem: JsonSyntaxProblem };

class Stop extends Error {
  constructor(
    readonly offset: number,
    readonly path: PathSegment[],
    readonly problem: string,
    readonly expected: string,
  ) {
    super(problem);
  }
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const WORD = /[A-Za-z0-9_$.-]+/y;
const WHITESPACE = /[ \t\n\r]*/y;
const SIMPLE_ESCAPES = '"\\/bfnrt';
const HEX4 = /^[0-9a-fA-F]{4}$/;
const ANY_VALUE = 'a value (object, array, string, number, true, false or null)';

/**
 * Strict JSON (RFC 8259) with a precise location for the first problem, which JSON.parse does
 * not give on every Node version. Also rejects what JSON.parse silently accepts but an operator
 * never means: a property repeated in one object (the last would win) and nesting deeper than
 * MAX_JSON_DEPTH. A leading byte order mark is ignored.
 */
export function parseJson(text: string): JsonParseResult {
  const start = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  try {
    new Scanner(text, start).document();
  } catch (err) {
    if (!(err instanceof Stop)) throw err;
    const { line, column } = lineAndColumn(text, err.offset);
    return {
      ok: false,
      problem: { line, column, path: err.path, message: `${err.problem} at line ${line}, column ${column}`, expected: err.expected },
    };
  }
  return { ok: true, value: JSON.parse(text.slice(start)) };
}

class Scanner {
  constructor(
    private readonly text: string,
    private pos: number,
  ) {}

  document(): void {
    this.value([], 1);
    this.skipWhitespace();
    if (this.pos < this.text.length) {
      throw new Stop(this.pos, [], `unexpected ${this.describeHere()} after the end of the document`, 'end of file');
    }
  }

  private value(path: PathSegment[], depth: number): void {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === '{' || c === '[') {
      if (depth > MAX_JSON_DEPTH) {
        throw new Stop(this.pos, [], `nesting deeper than ${MAX_JSON_DEPTH} levels`, `at most ${MAX_JSON_DEPTH} nested objects and arrays`);
      }
      if (c === '{') this.object(path, depth);
      else this.array(path, depth);
    } else if (c === '"') this.string(path);
    else if (c !== undefined && /[A-Za-z_]/.test(c)) this.word(path);
    else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) this.number(path);
    else throw this.unexpected(path, ANY_VALUE);
  }

  private object(path: PathSegment[], depth: number): void {
    this.pos++;
    const seen = new Set<string>();
    this.skipWhitespace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') throw this.unexpected(path, 'a property name in double quotes');
      const keyAt = this.pos;
      const key = this.string(path);
      if (seen.has(key)) {
        throw new Stop(keyAt, [...path, key], `property ${JSON.stringify(key)} appears twice in one object`, 'each property at most once');
      }
      seen.add(key);
      this.skipWhitespace();
      if (this.text[this.pos] !== ':') throw this.unexpected(path, `':' after property name ${JSON.stringify(key)}`);
      this.pos++;
      this.value([...path, key], depth + 1);
      if (this.endOfContainer('}', path)) return;
    }
  }

  private array(path: PathSegment[], depth: number): void {
    this.pos++;
    this.skipWhitespace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return;
    }
    for (let index = 0; ; index++) {
      this.value([...path, index], depth + 1);
      if (this.endOfContainer(']', path)) return;
    }
  }

  /** After a member: consumes ',' (false: another member follows) or the closing bracket (true). */
  private endOfContainer(close: '}' | ']', path: PathSegment[]): boolean {
    this.skipWhitespace();
    const c = this.text[this.pos];
    if (c === ',') {
      this.pos++;
      return false;
    }
    if (c === close) {
      this.pos++;
      return true;
    }
    throw this.unexpected(path, `',' or '${close}'`);
  }

  /** Reads a string starting at the opening quote; returns its value. */
  private string(path: PathSegment[]): string {
    const start = this.pos++;
    for (;;) {
      const c = this.text[this.pos];
      if (c === undefined) throw new Stop(start, path, 'unterminated string', 'a closing double quote');
      if (c === '"') break;
      if (c === '\\') {
        const escape = this.text[this.pos + 1];
        const valid =
          escape !== undefined &&
          (SIMPLE_ESCAPES.includes(escape) || (escape === 'u' && HEX4.test(this.text.slice(this.pos + 2, this.pos + 6))));
        if (!valid) throw new Stop(this.pos, path, 'invalid escape sequence in string', 'one of \\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX');
        this.pos += escape === 'u' ? 6 : 2;
      } else if (c < ' ') {
        throw new Stop(this.pos, path, 'unescaped control character in string', 'a line break written as \\n, a tab as \\t');
      } else this.pos++;
    }
    this.pos++;
    return JSON.parse(this.text.slice(start, this.pos)) as string;
  }

  private number(path: PathSegment[]): void {
    NUMBER.lastIndex = this.pos;
    const match = NUMBER.exec(this.text);
    if (!match) throw this.unexpected(path, 'a number such as 0, -1.5 or 2e3');
    this.pos += match[0].length;
  }

  /** true, false or null; any other bare word (an unquoted string, say) is an error. */
  private word(path: PathSegment[]): void {
    WORD.lastIndex = this.pos;
    const word = WORD.exec(this.text)![0];
    if (word !== 'true' && word !== 'false' && word !== 'null') {
      throw new Stop(this.pos, path, `unquoted word '${word}'`, 'a string in double quotes, a number, true, false or null');
    }
    this.pos += word.length;
  }

  private skipWhitespace(): void {
    WHITESPACE.lastIndex = this.pos;
    WHITESPACE.exec(this.text);
    this.pos = WHITESPACE.lastIndex;
  }

  private unexpected(path: PathSegment[], expected: string): Stop {
    return new Stop(this.pos, path, `unexpected ${this.describeHere()}`, expected);
  }

  private describeHere(): string {
    const c = this.text[this.pos];
    if (c === undefined) return 'end of file';
    return c > ' ' ? `'${c}'` : JSON.stringify(c);
  }
}

function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}
