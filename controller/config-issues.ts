/**
 * Turns zod's validation issues for `canopy.yaml` into lines a Pi owner can act on: the field's
 * path, the value found there, and what is allowed (the expected type, the enum's options, the
 * range, the known field names). Secrets are never echoed.
 */
import type { z } from 'zod';

export type Path = ReadonlyArray<PropertyKey>;

/** Fields whose values never appear in messages or in `canopy config print`. */
export function isSecretPath(path: Path): boolean {
  const last = String(path.at(-1) ?? '');
  return /password|secret|token|passphrase/i.test(last);
}

export function pathText(path: Path): string {
  return path.length ? path.map(String).join('.') : '(top level)';
}

function valueAt(root: unknown, path: Path): unknown {
  let v = root;
  for (const k of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[k];
  }
  return v;
}

/** The value as the user wrote it, short; secrets redacted. */
export function showValue(v: unknown, path: Path): string {
  if (v === undefined) return 'missing';
  if (isSecretPath(path)) return '(a secret, not shown)';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

const TYPE_WORDS: Record<string, string> = { object: 'a mapping (key: value)', array: 'a list', string: 'a string', number: 'a number', boolean: 'true or false', null: 'null', int: 'a whole number' };

function bound(i: { origin?: string; inclusive?: boolean }, n: number | bigint, more: boolean): string {
  const cmp = more ? (i.inclusive ? 'at least' : 'more than') : i.inclusive ? 'at most' : 'less than';
  if (i.origin === 'string') return more && i.inclusive && Number(n) === 1 ? 'a non-empty string' : `${cmp} ${n} characters`;
  if (i.origin === 'array') return `${cmp} ${n} items`;
  return `a number ${cmp} ${n}`;
}

/** zod's internal definition of a schema (zod 4 keeps it on `_zod.def`). */
type Def = { type: string; shape?: Record<string, unknown>; innerType?: unknown; in?: unknown; options?: unknown[]; element?: unknown };
const def = (s: unknown): Def => (s as { _zod: { def: Def } })._zod.def;

/** The field names an object schema at `path` accepts (through defaults, optionals, unions). */
export function knownKeys(schema: unknown, path: Path): string[] {
  const found: string[] = [];
  const walk = (s: unknown, rest: Path): void => {
    const d = def(s);
    switch (d.type) {
      case 'optional':
      case 'default':
      case 'nullable':
      case 'prefault':
        return walk(d.innerType, rest);
      case 'pipe':
        return walk(d.in, rest);
      case 'union':
        for (const o of d.options ?? []) walk(o, rest);
        return;
      case 'array':
        if (rest.length && typeof rest[0] === 'number') walk(d.element, rest.slice(1));
        return;
      case 'object':
        if (rest.length === 0) found.push(...Object.keys(d.shape ?? {}));
        else if (d.shape && String(rest[0]) in d.shape) walk(d.shape[String(rest[0])], rest.slice(1));
        return;
      default:
        return;
    }
  };
  walk(schema, path);
  return [...new Set(found)];
}

/** "is the value's type wrong at this very spot" (as opposed to deeper inside a matching type). */
function isTypeMiss(issues: z.core.$ZodIssue[]): boolean {
  return issues.every((i) => i.path.length === 0 && (i.code === 'invalid_type' || i.code === 'invalid_value'));
}

function allowedText(i: z.core.$ZodIssue): string {
  switch (i.code) {
    case 'invalid_type':
      return TYPE_WORDS[i.expected] ?? i.expected;
    case 'invalid_value':
      return i.values.length === 1 ? JSON.stringify(i.values[0]) : `one of ${i.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_big':
      return bound(i, i.maximum, false);
    case 'too_small':
      return bound(i, i.minimum, true);
    case 'invalid_union':
      return i.errors.map((branch) => branch.map(allowedText).join(' and ')).join(', or ');
    default:
      return i.message;
  }
}

/**
 * One line per problem: `path: value — allowed`. `raw` is the parsed YAML (for the values),
 * `schema` the config schema (for the known field names).
 */
export function formatIssues(issues: z.core.$ZodIssue[], raw: unknown, schema: unknown, prefix: Path = []): string[] {
  const lines: string[] = [];
  for (const i of issues) {
    const path = [...prefix, ...i.path];
    const value = valueAt(raw, path);
    switch (i.code) {
      case 'unrecognized_keys': {
        const known = knownKeys(schema, path);
        for (const k of i.keys) lines.push(`${pathText([...path, k])}: unknown field; known here: ${known.join(', ')}`);
        break;
      }
      case 'invalid_union': {
        // A value of the right kind that is wrong inside (an object with a bad port): report that
        // branch's own problems; otherwise say which kinds are allowed.
        const matching = i.errors.filter((b) => !isTypeMiss(b));
        if (matching.length === 1) lines.push(...formatIssues(matching[0]!, raw, schema, path));
        else lines.push(`${pathText(path)}: ${showValue(value, path)}; allowed: ${allowedText(i)}`);
        break;
      }
      case 'custom':
        lines.push(`${pathText(path)}: ${showValue(value, path)}; ${i.message}`);
        break;
      case 'invalid_key':
        // A record's key (a drone's system id in signing.drones): what the key may be.
        lines.push(`${pathText(path)}: the key "${String(path.at(-1))}"; allowed: ${i.issues.map((k) => k.message).join(', ')}`);
        break;
      case 'invalid_format':
        lines.push(`${pathText(path)}: ${showValue(value, path)}; allowed: ${i.format === 'datetime' ? 'an ISO date and time, e.g. 2026-06-21T10:00:00Z' : i.message.startsWith('Invalid') ? `a ${i.format}` : i.message}`);
        break;
      default:
        if (i.code === 'invalid_type' && value === undefined) lines.push(`${pathText(path)}: missing; required: ${allowedText(i)}`);
        else lines.push(`${pathText(path)}: ${showValue(value, path)}; allowed: ${allowedText(i)}`);
    }
  }
  return lines;
}

/** 90000 → "1m30s": a duration as a user writes it (config.ts reads it back the same). */
export function formatDuration(ms: number): string {
  let s = Math.round(ms / 1000);
  if (s === 0) return '0s';
  const parts: string[] = [];
  for (const [unit, n] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    if (s >= n) {
      parts.push(`${Math.floor(s / n)}${unit}`);
      s %= n;
    }
  }
  return parts.join('');
}

/**
 * The validated config back in the file's own terms, for `canopy config print`: durations as
 * "1m30s" (`durationSchema` marks them), secrets replaced by a placeholder.
 */
export function printable(schema: unknown, value: unknown, durationSchema: unknown, path: Path = []): unknown {
  if (value === undefined) return undefined;
  if (isSecretPath(path) && value !== null) return '(secret, not shown)';
  if (schema === durationSchema && typeof value === 'number') return formatDuration(value);
  const d = def(schema);
  switch (d.type) {
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      return printable(d.innerType, value, durationSchema, path);
    case 'pipe':
      return printable(d.in, value, durationSchema, path);
    case 'union': {
      // The branch that fits the value's kind: an object, a list, or a duration number.
      for (const o of d.options ?? []) {
        const t = def(o).type;
        if (o === durationSchema && typeof value === 'number') return formatDuration(value);
        if ((t === 'object' && isPlainObject(value)) || (t === 'array' && Array.isArray(value))) return printable(o, value, durationSchema, path);
      }
      return value;
    }
    case 'array':
      return Array.isArray(value) ? value.map((v, i) => printable(d.element, v, durationSchema, [...path, i])) : value;
    case 'object': {
      if (!isPlainObject(value)) return value;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value)) {
        const sub = d.shape?.[k];
        const p = sub ? printable(sub, v, durationSchema, [...path, k]) : v;
        if (p !== undefined) out[k] = p;
      }
      return out;
    }
    default:
      return value;
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}
