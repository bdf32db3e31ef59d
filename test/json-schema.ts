// A small JSON Schema validator (the subset docs/cli-json.md uses): type, properties, required,
// additionalProperties, items, enum, pattern, propertyNames, minimum, maximum. Returns the
// problems found, each naming the JSON path.

export interface Schema {
  type?: string | string[];
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean | Schema;
  items?: Schema;
  enum?: unknown[];
  pattern?: string;
  propertyNames?: Schema;
  minimum?: number;
  maximum?: number;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

export function validate(s: Schema, v: unknown, path = '$', out: string[] = []): string[] {
  if (s.type !== undefined) {
    const types = Array.isArray(s.type) ? s.type : [s.type];
    const t = typeOf(v);
    if (!types.includes(t) && !(t === 'integer' && types.includes('number'))) {
      out.push(`${path}: expected ${types.join('|')}, got ${t}`);
      return out;
    }
  }
  if (s.enum && !s.enum.includes(v)) out.push(`${path}: ${JSON.stringify(v)} is not one of ${JSON.stringify(s.enum)}`);
  if (typeof v === 'string' && s.pattern && !new RegExp(s.pattern).test(v)) out.push(`${path}: ${JSON.stringify(v)} does not match ${s.pattern}`);
  if (typeof v === 'number') {
    if (s.minimum !== undefined && v < s.minimum) out.push(`${path}: ${v} < ${s.minimum}`);
    if (s.maximum !== undefined && v > s.maximum) out.push(`${path}: ${v} > ${s.maximum}`);
  }
  if (Array.isArray(v) && s.items) v.forEach((x, i) => validate(s.items!, x, `${path}[${i}]`, out));
  if (typeOf(v) === 'object') {
    const o = v as Record<string, unknown>;
    for (const r of s.required ?? []) if (!(r in o)) out.push(`${path}: missing ${r}`);
    for (const [k, x] of Object.entries(o)) {
      if (s.propertyNames) validate(s.propertyNames, k, `${path} key ${JSON.stringify(k)}`, out);
      const p = s.properties?.[k];
      if (p) validate(p, x, `${path}.${k}`, out);
      else if (s.additionalProperties === false) out.push(`${path}: unexpected key ${k}`);
      else if (typeof s.additionalProperties === 'object') validate(s.additionalProperties, x, `${path}.${k}`, out);
    }
  }
  return out;
}

/** Every property name a schema declares (for the naming-convention check). */
export function declaredKeys(s: Schema): string[] {
  const out: string[] = [];
  for (const [k, p] of Object.entries(s.properties ?? {})) out.push(k, ...declaredKeys(p));
  if (s.items) out.push(...declaredKeys(s.items));
  if (typeof s.additionalProperties === 'object') out.push(...declaredKeys(s.additionalProperties));
  return out;
}

/** The schemas of a Markdown file: a ```json block after each `<!-- schema: NAME -->`. */
export function schemasIn(markdown: string): Record<string, Schema> {
  const out: Record<string, Schema> = {};
  for (const m of markdown.matchAll(/<!-- schema: (\S+) -->\s*```json\n([\s\S]*?)```/g)) out[m[1]] = JSON.parse(m[2]) as Schema;
  return out;
}
