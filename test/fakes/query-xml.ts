/**
 * Helpers of the AWS Query wire format for the fakes: form-encoded requests in, XML out.
 */

/** A form request as a tree: `Filter.1.Value.2=x` becomes { Filter: { 1: { Value: { 2: 'x' } } } }. */
export type QueryNode = string | { [key: string]: QueryNode };

export function parseQuery(body: string): { flat: Map<string, string>; tree: Record<string, QueryNode> } {
  const flat = new Map<string, string>(new URLSearchParams(body));
  const tree: Record<string, QueryNode> = {};
  for (const [key, value] of flat) {
    const path = key.split('.');
    let node: Record<string, QueryNode> = tree;
    for (const [i, part] of path.entries()) {
      if (i === path.length - 1) {
        node[part] = value;
      } else {
        const next = node[part];
        node = typeof next === 'object' ? next : (node[part] = {});
      }
    }
  }
  return { flat, tree };
}

/** The members of a 1-based Query list (`X.1`, `X.2`...), in index order. */
export function items(node: QueryNode | undefined): QueryNode[] {
  if (node === undefined || typeof node === 'string') return [];
  return Object.keys(node)
    .filter((k) => /^\d+$/.test(k))
    .sort((a, b) => Number(a) - Number(b))
    .map((k) => node[k]);
}

/** A string member of a structure node (undefined when absent or not a string). */
export function field(node: QueryNode | undefined, name: string): string | undefined {
  if (node === undefined || typeof node === 'string') return undefined;
  const value = node[name];
  return typeof value === 'string' ? value : undefined;
}

/** The strings of a list node. */
export function strings(node: QueryNode | undefined): string[] {
  return items(node).filter((v): v is string => typeof v === 'string');
}

function escapeXml(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** An XML fragment: text or nested elements. */
export type Xml = { readonly xml: string };

/** `<name>children</name>`: a string or number child is escaped text; undefined children are dropped. */
export function el(name: string, ...children: (Xml | string | number | boolean | undefined)[]): Xml {
  const inner = children
    .filter((c) => c !== undefined)
    .map((c) => (typeof c === 'object' ? c.xml : escapeXml(String(c))))
    .join('');
  return { xml: `<${name}>${inner}</${name}>` };
}

/** An element only when `value` is defined. */
export function opt(name: string, value: string | number | boolean | undefined): Xml | undefined {
  return value === undefined ? undefined : el(name, value);
}

/** A Query list: `<name><item>..</item>...</name>`. */
export function list<T>(name: string, values: readonly T[], item: (value: T) => (Xml | undefined)[]): Xml {
  return el(name, ...values.map((v) => el('item', ...item(v))));
}
