import { useState } from 'react';
import type { FieldErrors, FieldValues, Resolver, UseFormReturn } from 'react-hook-form';
import { z } from 'zod';
import type { Field, FieldProblem } from '../api';
import { Button, ErrorSummary, inputClass } from './ui';

/**
 * A form generated from the catalogue's field metadata (label, group, order, enum, format, multiline,
 * visible_when). Values are kept as the inputs hold them (text, or a boolean for a switch) and converted to the
 * config's types only when sent. A stored secret never enters the form's state: it shows as "configured" with
 * Replace (an empty password input) and, when optional, Remove.
 */

export type SecretState = 'stored' | 'replace' | 'remove';
export const META_NAME = 'connector_name';
export const META_INTERVAL = 'health_check_interval_s';
export const META_ENABLED = 'enabled';
export const groups = ['Connection', 'Authentication', 'TLS', 'Advanced'] as const;

export const fieldId = (name: string) => `field-${name}`;

/** What an input holds for a config value. */
export function toInputValue(field: Field, value: unknown): string | boolean {
  if (field.type === 'boolean') return value === true;
  if (value === undefined || value === null) return '';
  if (field.type === 'array') return (value as unknown[]).map(String).join(', ');
  if (field.type === 'object') return JSON.stringify(value, null, 2);
  return String(value);
}

const numberText = z.string().regex(/^-?\d+(\.\d+)?$/, 'must be a number');
const integerText = z.string().regex(/^-?\d+$/, 'must be a whole number');
const jsonText = z.string().refine((text) => {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}, 'must be valid JSON');

/** The input's text as the config value, or undefined when empty. */
export function fromInputValue(field: Field, value: unknown): unknown {
  if (field.type === 'boolean') return value === true;
  const text = typeof value === 'string' ? value.trim() : '';
  if (text === '') return undefined;
  if (field.type === 'integer' || field.type === 'number') return Number(text);
  if (field.type === 'array') return text.split(/[,\n]/).map((item) => item.trim()).filter(Boolean);
  if (field.type === 'object') return JSON.parse(text) as unknown;
  return field.format === 'pem' ? (value as string) : text;
}

export function isVisible(field: Field, values: FieldValues, fields: Field[]): boolean {
  if (!field.visible_when) return true;
  return Object.entries(field.visible_when).every(([name, allowed]) => {
    const controller = fields.find((f) => f.name === name);
    const value = controller ? fromInputValue(controller, values[name]) ?? controller.default : values[name];
    return allowed.some((candidate) => candidate === value);
  });
}

/** Client-side checks (zod, jitless): required fields, numbers, JSON. The server has the last word (422s). */
export function connectorResolver(getFields: () => Field[], getSecrets: () => Record<string, SecretState | undefined>, needsName: boolean): Resolver<FieldValues> {
  return async (values) => {
    const errors: FieldErrors<FieldValues> = {};
    const fail = (name: string, message: string) => {
      errors[name] = { type: 'validate', message };
    };
    if (needsName && !String(values[META_NAME] ?? '').trim()) fail(META_NAME, 'required');
    if (values[META_INTERVAL] !== undefined && !integerText.safeParse(String(values[META_INTERVAL])).success) fail(META_INTERVAL, 'must be a whole number of seconds');
    const fields = getFields();
    const secrets = getSecrets();
    for (const field of fields) {
      if (!isVisible(field, values, fields) || field.type === 'boolean') continue;
      if (field.secret && secrets[field.name] && secrets[field.name] !== 'replace') continue;
      const text = typeof values[field.name] === 'string' ? (values[field.name] as string).trim() : '';
      if (text === '') {
        if (field.required && field.default === undefined) fail(field.name, 'required');
        continue;
      }
      const check = field.type === 'integer' ? integerText : field.type === 'number' ? numberText : field.type === 'object' ? jsonText : null;
      const parsed = check?.safeParse(text);
      if (parsed && !parsed.success) fail(field.name, parsed.error.issues[0]?.message ?? 'invalid');
    }
    return Object.keys(errors).length ? { values: {}, errors } : { values, errors: {} };
  };
}

/** Server problems (`config.host`, `name`) onto the form's fields; what matches no field stays in the summary. */
export function applyServerErrors(form: UseFormReturn<FieldValues>, problems: FieldProblem[], fields: Field[]): FieldProblem[] {
  const unmatched: FieldProblem[] = [];
  for (const problem of problems) {
    const configField = problem.path.startsWith('config.') ? problem.path.slice('config.'.length).split('.')[0] : undefined;
    const target = configField && fields.some((f) => f.name === configField) ? configField : problem.path === 'name' ? META_NAME : problem.path === META_INTERVAL ? META_INTERVAL : undefined;
    if (target) form.setError(target, { type: 'server', message: problem.message });
    else unmatched.push(problem);
  }
  return unmatched;
}

/** Every current error for the summary above the form, in the form's order. */
export function summarise(errors: FieldErrors<FieldValues>, fields: Field[], extra: FieldProblem[]): FieldProblem[] {
  const label = (name: string) => (name === META_NAME ? 'Name' : name === META_INTERVAL ? 'Check interval (s)' : fields.find((f) => f.name === name)?.label ?? name);
  const order = [META_NAME, ...fields.map((f) => f.name), META_INTERVAL];
  const list = order.filter((name) => errors[name]).map((name) => ({ path: label(name), message: String(errors[name]?.message ?? 'invalid'), name }));
  return [...list, ...extra];
}

export function FormErrorSummary({ problems }: { problems: (FieldProblem & { name?: string })[] }) {
  return <ErrorSummary problems={problems} fieldId={(path) => { const match = problems.find((p) => p.path === path) as { name?: string } | undefined; return match?.name ? fieldId(match.name) : undefined; }} />;
}

export function ConfigFields({
  form,
  fields,
  secrets,
  setSecret,
  readOnly = false,
}: {
  form: UseFormReturn<FieldValues>;
  fields: Field[];
  secrets: Record<string, SecretState | undefined>;
  setSecret: (name: string, state: SecretState) => void;
  readOnly?: boolean;
}) {
  const values = form.watch();
  const sorted = [...fields].sort((a, b) => a.order - b.order);
  return (
    <>
      {groups.map((group) => {
        const inGroup = sorted.filter((field) => field.group === group && isVisible(field, values, fields));
        if (inGroup.length === 0) return null;
        return (
          <fieldset key={group} className="mb-4 rounded border border-slate-300 p-4">
            <legend className="px-1 font-semibold">{group}</legend>
            <div className="grid gap-4 md:grid-cols-2">
              {inGroup.map((field) => (
                <ConfigField key={field.name} form={form} field={field} secret={secrets[field.name]} setSecret={setSecret} readOnly={readOnly} />
              ))}
            </div>
          </fieldset>
        );
      })}
    </>
  );
}

function ConfigField({
  form,
  field,
  secret,
  setSecret,
  readOnly,
}: {
  form: UseFormReturn<FieldValues>;
  field: Field;
  secret: SecretState | undefined;
  setSecret: (name: string, state: SecretState) => void;
  readOnly: boolean;
}) {
  const id = fieldId(field.name);
  const error = form.formState.errors[field.name];
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  const describedBy = [field.description ? hintId : null, error ? errorId : null].filter(Boolean).join(' ') || undefined;
  const common = { id, 'aria-invalid': error ? true : undefined, 'aria-describedby': describedBy, disabled: readOnly };
  const required = field.required && field.default === undefined;

  const hint = field.description ? (
    <p id={hintId} className="mt-1 text-xs text-slate-700">
      {field.description}
    </p>
  ) : null;
  const errorText = error ? (
    <p id={errorId} className="mt-1 text-sm font-medium text-red-800">
      {String(error.message)}
    </p>
  ) : null;

  if (field.secret && (secret === 'stored' || secret === 'remove')) {
    return (
      <div role="group" aria-labelledby={`${id}-label`}>
        <span className="block text-sm font-medium" id={`${id}-label`}>
          {field.label}
        </span>
        <p className="mt-1 flex items-center gap-2 text-sm">
          <span>{secret === 'stored' ? 'configured' : 'will be removed on save'}</span>
          {!readOnly ? (
            <>
              <Button onClick={() => setSecret(field.name, 'replace')}>
                Replace
              </Button>
              {!field.required && secret === 'stored' ? (
                <Button onClick={() => setSecret(field.name, 'remove')}>
                  Remove
                </Button>
              ) : null}
              {secret === 'remove' ? <Button onClick={() => setSecret(field.name, 'stored')}>Keep</Button> : null}
            </>
          ) : null}
        </p>
        {hint}
      </div>
    );
  }

  if (field.type === 'boolean') {
    return (
      <div>
        <div className="flex items-center gap-2">
          <input type="checkbox" {...common} {...form.register(field.name)} className="h-4 w-4" />
          <label htmlFor={id} className="text-sm font-medium">
            {field.label}
          </label>
        </div>
        {hint}
        {errorText}
      </div>
    );
  }

  const label = (
    <label htmlFor={id} className="block text-sm font-medium">
      {field.label}
      {required ? <span className="sr-only"> (required)</span> : null}
    </label>
  );
  let input;
  if (field.enum) {
    input = (
      <select {...common} {...form.register(field.name)} className={inputClass}>
        {required ? null : <option value="">(default{field.default !== undefined ? `: ${String(field.default)}` : ''})</option>}
        {field.enum.map((value) => (
          <option key={value} value={value}>
            {value}
          </option>
        ))}
      </select>
    );
  } else if (field.multiline) {
    input = <textarea {...common} {...form.register(field.name)} rows={4} spellCheck={false} autoComplete={field.secret ? 'new-password' : 'off'} className={`${inputClass} font-mono`} />;
  } else if (field.secret) {
    input = <input type="password" {...common} {...form.register(field.name)} autoComplete="new-password" className={inputClass} />;
  } else {
    const numeric = field.type === 'integer' || field.type === 'number';
    input = (
      <input
        type="text"
        inputMode={numeric ? 'numeric' : field.format === 'uri' ? 'url' : undefined}
        spellCheck={false}
        autoComplete="off"
        placeholder={field.default !== undefined && field.default !== null ? String(toInputValue(field, field.default)) : undefined}
        {...common}
        {...form.register(field.name)}
        className={inputClass}
      />
    );
  }
  return (
    <div>
      {label}
      {input}
      {hint}
      {errorText}
      {field.secret && secret === 'replace' ? (
        <Button className="mt-1" onClick={() => { form.setValue(field.name, ''); setSecret(field.name, 'stored'); }}>
          Keep the stored value
        </Button>
      ) : null}
    </div>
  );
}

/** Secret fields start as "stored" where the saved config has one (it shows the mask), else undefined. */
export function initialSecrets(fields: Field[], config: Record<string, unknown> | null): Record<string, SecretState | undefined> {
  return Object.fromEntries(fields.filter((f) => f.secret).map((f) => [f.name, config?.[f.name] !== undefined && config?.[f.name] !== null ? 'stored' : undefined]));
}

/** Default values: the saved config's (never a secret) or the catalogue's defaults. */
export function initialValues(fields: Field[], config: Record<string, unknown> | null): FieldValues {
  const values: FieldValues = {};
  for (const field of fields) {
    if (field.secret) values[field.name] = field.type === 'boolean' ? false : '';
    else if (config) values[field.name] = toInputValue(field, config[field.name]);
    else values[field.name] = field.type === 'boolean' ? field.default === true : '';
  }
  return values;
}

/** The whole config of a new connector: visible, non-empty fields. */
export function fullConfig(fields: Field[], values: FieldValues): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  for (const field of fields) {
    if (!isVisible(field, values, fields)) continue;
    if (field.type === 'boolean' && values[field.name] === (field.default === true) && field.default !== undefined) continue;
    const value = fromInputValue(field, values[field.name]);
    if (value !== undefined) config[field.name] = value;
  }
  return config;
}

/**
 * Only what the user changed: edited fields (an emptied optional field is null, which removes it), a replaced
 * secret's new value, a removed secret as null. A stored secret left alone is not sent at all.
 */
export function changedConfig(
  fields: Field[],
  values: FieldValues,
  dirty: Partial<Record<string, unknown>>,
  secrets: Record<string, SecretState | undefined>,
): Record<string, unknown> {
  const patch: Record<string, unknown> = {};
  for (const field of fields) {
    const state = secrets[field.name];
    if (field.secret && state === 'remove') {
      patch[field.name] = null;
      continue;
    }
    if (field.secret && state === 'stored') continue;
    if (!dirty[field.name]) continue;
    const value = fromInputValue(field, values[field.name]);
    patch[field.name] = value === undefined ? null : value;
  }
  return patch;
}

export function useSecrets(initial: Record<string, SecretState | undefined>) {
  const [secrets, setSecrets] = useState(initial);
  const setSecret = (name: string, state: SecretState) => setSecrets((current) => ({ ...current, [name]: state }));
  return { secrets, setSecret, setSecrets };
}
