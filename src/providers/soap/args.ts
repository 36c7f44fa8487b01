import type { FieldError } from '../../errors.js';

/**
 * A call's `args` checked against the method's input as the WSDL describes it, before the `soap` library turns
 * them into XML. The library reads some keys as markup rather than elements: `_xml` (the whole body, raw),
 * `$xml` (raw XML in place of an element's content), `$value`, `attributes` (attributes, unescaped in rpc
 * style, `xsi_type` among them), `_xmlns`; and a key is written as an element name unescaped. So a read
 * method's args could carry another method's body. Only names the WSDL declares pass, at every depth where it
 * describes the element; everywhere else (a part whose type the WSDL does not describe) a key must still be a
 * plain XML name and none of those.
 */

/** How deep args may nest, and how many values they may hold in all; the walk stops at either. */
export const ARGS_MAX_DEPTH = 32;
export const ARGS_MAX_VALUES = 10_000;

/** The library's element description: names (`item[]` when repeated) to a type name or nested fields. */
type Description = string | Record<string, unknown> | undefined;

// Keys of a description that are the library's own bookkeeping, not elements.
const DESCRIPTION_META = new Set(['targetNSAlias', 'targetNamespace']);
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

/** The library treats these keys as markup; `$` and `_xml` prefixes cover its configurable and future ones. */
export function isSpecialKey(key: string): boolean {
  return key.startsWith('$') || key.toLowerCase().startsWith('_xml') || key === 'attributes';
}

/** The problems of `args` for a method whose input is described by `input` (an empty list when they are fine). */
export function argsIssues(args: Record<string, unknown>, input: unknown, method: string): FieldError[] {
  const errors: FieldError[] = [];
  let values = 0;

  const walk = (value: unknown, description: Description, path: string, depth: number): void => {
    if (errors.length > 0) return;
    if (++values > ARGS_MAX_VALUES) {
      errors.push({ path, message: `args hold more than ${ARGS_MAX_VALUES} values` });
      return;
    }
    if (value === null || typeof value !== 'object') return;
    if (depth > ARGS_MAX_DEPTH) {
      errors.push({ path, message: `nested deeper than ${ARGS_MAX_DEPTH} levels` });
      return;
    }
    if (Array.isArray(value)) {
      value.forEach((item, index) => walk(item, description, `${path}.${index}`, depth + 1));
      return;
    }
    const fields = typeof description === 'object' ? elementNames(description) : undefined;
    for (const [key, item] of Object.entries(value)) {
      const at = `${path}.${key}`;
      if (isSpecialKey(key)) {
        errors.push({ path: at, message: 'the SOAP library reads this key as raw XML or markup: not allowed' });
      } else if (typeof description === 'string') {
        errors.push({ path, message: `a simple value (${description}), not an object` });
      } else if (fields ? !fields.has(key) : !PLAIN_NAME.test(key)) {
        const where = depth === 0 ? `an input part of ${method}` : 'an element the WSDL declares here';
        errors.push({ path: at, message: `not ${where}` });
      } else {
        walk(item, fields?.get(key), at, depth + 1);
      }
      if (errors.length > 0) return;
    }
  };

  // A method without input, or whose input is one simple element, takes no named args.
  const top = describedOrOpen(input);
  walk(args, typeof top === 'object' ? top : {}, 'args', 0);
  return errors;
}

/** The element names of a description and what each holds; `name[]` (repeated) is called as `name`. */
function elementNames(description: Record<string, unknown>): Map<string, Description> {
  const names = new Map<string, Description>();
  for (const [key, value] of Object.entries(description)) {
    if (DESCRIPTION_META.has(key) || typeof value === 'function') continue;
    names.set(key.endsWith('[]') ? key.slice(0, -2) : key, describedOrOpen(value));
  }
  return names;
}

/**
 * A description the walk can use: a type name, nested fields, or undefined (open: any plain names) where the
 * library left a schema object of its own (rpc parts of a complex type) instead of describing it.
 */
function describedOrOpen(value: unknown): Description {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  if (Object.getPrototypeOf(value) !== Object.prototype) return undefined;
  return value as Record<string, unknown>;
}
