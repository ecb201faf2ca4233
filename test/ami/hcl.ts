/**
 * A structural reader for HCL2 files (Packer templates), for tests where `packer validate` is
 * not available. It checks the syntax HCL's native form needs for structure (balanced blocks,
 * brackets and interpolations, terminated strings and comments, heredocs, `name = expr`
 * attributes, `type "label"... {` blocks) and returns blocks with their attributes' source text.
 * It does not evaluate expressions.
 */

export interface HclAttribute {
  /** The expression's source text, trimmed. */
  raw: string;
  line: number;
}

export interface HclBlock {
  type: string;
  labels: string[];
  attributes: Record<string, HclAttribute>;
  blocks: HclBlock[];
  line: number;
}

interface Token {
  kind: 'ident' | 'string' | 'punct' | 'other' | 'newline';
  text: string;
  line: number;
  /** Offset of the token's first character in the source. */
  start: number;
}

export class HclSyntaxError extends Error {
  constructor(message: string, line: number) {
    super(`line ${line}: ${message}`);
    this.name = 'HclSyntaxError';
  }
}

const CLOSERS: Record<string, string> = { '{': '}', '[': ']', '(': ')' };

/** Index just past the string literal starting at `start` (a '"'), honouring escapes and ${...}. */
function skipString(src: string, start: number, line: () => number): number {
  let i = start + 1;
  while (i < src.length) {
    const c = src[i];
    if (c === '\\') i += 2;
    else if (c === '"') return i + 1;
    else if (c === '\n') throw new HclSyntaxError('unterminated string', line());
    else if ((c === '$' || c === '%') && src[i + 1] === '{') i = skipTemplate(src, i + 2, line);
    else i++;
  }
  throw new HclSyntaxError('unterminated string', line());
}

/** Index just past the '}' closing an interpolation whose body starts at `start`. */
function skipTemplate(src: string, start: number, line: () => number): number {
  let depth = 1;
  let i = start;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') {
      i = skipString(src, i, line);
      continue;
    }
    if (c === '{') depth++;
    if (c === '}' && --depth === 0) return i + 1;
    i++;
  }
  throw new HclSyntaxError('unterminated ${ interpolation', line());
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let i = 0;
  const here = () => line;
  while (i < src.length) {
    const c = src[i];
    if (c === '\n') {
      tokens.push({ kind: 'newline', text: '\n', line, start: i });
      line++;
      i++;
    } else if (c === ' ' || c === '\t' || c === '\r') {
      i++;
    } else if (c === '#' || (c === '/' && src[i + 1] === '/')) {
      while (i < src.length && src[i] !== '\n') i++;
    } else if (c === '/' && src[i + 1] === '*') {
      const end = src.indexOf('*/', i + 2);
      if (end < 0) throw new HclSyntaxError('unterminated /* comment', line);
      line += src.slice(i, end).split('\n').length - 1;
      i = end + 2;
    } else if (c === '"') {
      const end = skipString(src, i, here);
      tokens.push({ kind: 'string', text: src.slice(i, end), line, start: i });
      i = end;
    } else if (c === '<' && src[i + 1] === '<') {
      const m = /^<<-?([A-Za-z_][A-Za-z0-9_]*)\n/.exec(src.slice(i));
      if (!m) throw new HclSyntaxError('malformed heredoc', line);
      const close = new RegExp(`\\n\\s*${m[1]}\\s*(\\n|$)`).exec(src.slice(i + m[0].length - 1));
      if (!close) throw new HclSyntaxError(`heredoc ${m[1]} is never closed`, line);
      const end = i + m[0].length - 1 + close.index + close[0].length - (close[1] === '\n' ? 1 : 0);
      tokens.push({ kind: 'string', text: src.slice(i, end), line, start: i });
      line += src.slice(i, end).split('\n').length - 1;
      i = end;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(src.slice(i)) as RegExpExecArray;
      tokens.push({ kind: 'ident', text: m[0], line, start: i });
      i += m[0].length;
    } else if ('{}[]()=,'.includes(c)) {
      // '==' is an operator inside an expression, not an assignment
      if (c === '=' && src[i + 1] === '=') {
        tokens.push({ kind: 'other', text: '==', line, start: i });
        i += 2;
      } else {
        tokens.push({ kind: 'punct', text: c, line, start: i });
        i++;
      }
    } else {
      const m = /^(=>|!=|<=|>=|&&|\|\||[^\s"{}[\](),=A-Za-z_]+)/.exec(src.slice(i));
      const text = m ? m[0] : c;
      tokens.push({ kind: 'other', text, line, start: i });
      i += text.length;
    }
  }
  return tokens;
}

/** Parses HCL2 native syntax into its top-level body (a block of type '' without labels). */
export function parseHcl(src: string): HclBlock {
  const tokens = tokenize(src);
  let pos = 0;
  const peek = () => tokens[pos];
  const skipNewlines = () => {
    while (peek()?.kind === 'newline') pos++;
  };

  /** Source text of the expression from `pos` to the end of its line (brackets may span lines). */
  function expression(startLine: number): string {
    const stack: string[] = [];
    const first = pos;
    while (pos < tokens.length) {
      const t = tokens[pos];
      if (t.kind === 'newline' && stack.length === 0) break;
      if (t.kind === 'punct' && t.text === '}' && stack.length === 0) break;
      if (t.kind === 'punct' && CLOSERS[t.text]) stack.push(CLOSERS[t.text]);
      else if (t.kind === 'punct' && ')]}'.includes(t.text)) {
        const expected = stack.pop();
        if (expected !== t.text) throw new HclSyntaxError(`unexpected '${t.text}'${expected ? `, expected '${expected}'` : ''}`, t.line);
      }
      pos++;
    }
    if (stack.length > 0) throw new HclSyntaxError(`unclosed bracket in expression, expected '${stack.pop()}'`, startLine);
    if (pos === first) throw new HclSyntaxError('an attribute needs a value after =', startLine);
    const last = tokens[pos - 1];
    const raw = src.slice(tokens[first].start, last.start + last.text.length).replace(/\s*\n\s*/g, ' ').trim();
    return raw;
  }

  function body(block: HclBlock, closing: boolean): HclBlock {
    for (;;) {
      skipNewlines();
      const t = peek();
      if (!t) {
        if (closing) throw new HclSyntaxError(`block ${block.type} opened here is never closed`, block.line);
        return block;
      }
      if (t.kind === 'punct' && t.text === '}') {
        if (!closing) throw new HclSyntaxError("unexpected '}'", t.line);
        pos++;
        return block;
      }
      if (t.kind !== 'ident') throw new HclSyntaxError(`expected an attribute or block name, got ${JSON.stringify(t.text)}`, t.line);
      pos++;
      const next = peek();
      if (next?.kind === 'punct' && next.text === '=') {
        pos++;
        if (Object.hasOwn(block.attributes, t.text)) throw new HclSyntaxError(`attribute ${t.text} is set twice`, t.line);
        block.attributes[t.text] = { raw: expression(t.line), line: t.line };
        const end = peek();
        if (end && end.kind !== 'newline' && !(end.kind === 'punct' && end.text === '}')) {
          throw new HclSyntaxError(`expected a newline after attribute ${t.text}`, end.line);
        }
        continue;
      }
      const labels: string[] = [];
      while (peek()?.kind === 'string' || peek()?.kind === 'ident') {
        const label = tokens[pos++];
        labels.push(label.kind === 'string' ? (JSON.parse(label.text) as string) : label.text);
      }
      const open = peek();
      if (!(open?.kind === 'punct' && open.text === '{')) {
        throw new HclSyntaxError(`expected '=' or '{' after ${t.text}${labels.length ? ` ${labels.join(' ')}` : ''}`, open?.line ?? t.line);
      }
      pos++;
      block.blocks.push(body({ type: t.text, labels, attributes: {}, blocks: [], line: t.line }, true));
    }
  }

  return body({ type: '', labels: [], attributes: {}, blocks: [], line: 1 }, false);
}

/** Blocks of `type` (optionally with `firstLabel`) directly in `block`. */
export function blocksOf(block: HclBlock, type: string, firstLabel?: string): HclBlock[] {
  return block.blocks.filter((b) => b.type === type && (firstLabel === undefined || b.labels[0] === firstLabel));
}

/** The value of a string-literal attribute without interpolation, or undefined. */
export function stringValue(block: HclBlock, name: string): string | undefined {
  const raw = block.attributes[name]?.raw;
  return raw !== undefined && /^"[^"$]*"$/.test(raw) ? (JSON.parse(raw) as string) : undefined;
}
