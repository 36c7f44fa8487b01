import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useId, useMemo, useState } from 'react';
import { useForm, type FieldValues } from 'react-hook-form';
import { useLocation } from 'wouter';
import { api, ApiError, errorText, type Connector, type Field, type FieldProblem, type TestResult } from '../api';
import {
  applyServerErrors,
  ConfigFields,
  connectorResolver,
  fieldId,
  FormErrorSummary,
  fullConfig,
  initialValues,
  META_INTERVAL,
  META_NAME,
  summarise,
} from '../components/ConnectorForm';
import { TestResultRegion } from '../components/TestResult';
import { Alert, Button, inputClass, PageTitle } from '../components/ui';
import { useOrg } from '../org';
import { useCatalogue } from './Connectors';

/** Pick a provider, fill the generated form, test the unsaved draft, save (and test). */
export function NewConnectorPage() {
  const org = useOrg();
  const catalogue = useCatalogue(org.slug);
  const [providerId, setProviderId] = useState('');
  const pickerId = useId();
  const entries = catalogue.data?.data ?? [];
  const selected = entries.flatMap((t) => t.providers.map((p) => ({ ...p, type: t.type }))).find((p) => p.provider === providerId);

  return (
    <>
      <PageTitle>New connector</PageTitle>
      {catalogue.error ? <Alert>{errorText(catalogue.error)}</Alert> : null}
      <div className="mb-6 max-w-md">
        <label htmlFor={pickerId} className="block text-sm font-medium">
          Provider
        </label>
        <select id={pickerId} className={inputClass} value={providerId} onChange={(e) => setProviderId(e.target.value)}>
          <option value="">Choose a provider…</option>
          {entries.map((type) => (
            <optgroup key={type.type} label={type.type}>
              {type.providers.map((p) => (
                <option key={p.provider} value={p.provider}>
                  {p.provider}
                </option>
              ))}
            </optgroup>
          ))}
        </select>
        {selected ? <p className="mt-1 text-sm text-slate-700">{selected.description}</p> : null}
      </div>
      {selected ? <NewConnectorForm key={selected.provider} type={selected.type} provider={selected.provider} fields={selected.fields} /> : null}
    </>
  );
}

function NewConnectorForm({ type, provider, fields }: { type: string; provider: string; fields: Field[] }) {
  const org = useOrg();
  const queryClient = useQueryClient();
  const [, navigate] = useLocation();
  const [serverProblems, setServerProblems] = useState<FieldProblem[]>([]);
  const [failure, setFailure] = useState<string | null>(null);
  const [result, setResult] = useState<{ result: TestResult; at: Date } | null>(null);
  const resolver = useMemo(() => connectorResolver(() => fields, () => ({}), true), [fields]);
  const form = useForm<FieldValues>({
    defaultValues: { ...initialValues(fields, null), [META_NAME]: '', [META_INTERVAL]: '300' },
    resolver,
    shouldFocusError: true,
  });

  const handleError = (error: unknown) => {
    if (error instanceof ApiError && error.status === 422 && error.errors.length) {
      setServerProblems(applyServerErrors(form, error.errors, fields));
      setFailure(null);
    } else {
      setFailure(errorText(error));
    }
  };

  const test = useMutation({
    mutationFn: (values: FieldValues) => api.post<TestResult>('/connectors/test', { connector_type: type, provider, config: fullConfig(fields, values) }, org.slug),
    onMutate: () => {
      setServerProblems([]);
      setFailure(null);
      setResult(null);
    },
    onSuccess: (data) => setResult({ result: data, at: new Date() }),
    onError: handleError,
  });

  const save = useMutation({
    mutationFn: async ({ values, andTest }: { values: FieldValues; andTest: boolean }) => {
      const connector = await api.post<Connector>(
        '/connectors',
        {
          name: String(values[META_NAME]).trim(),
          connector_type: type,
          provider,
          config: fullConfig(fields, values),
          health_check_interval_s: Number(values[META_INTERVAL]),
        },
        org.slug,
      );
      return { connector, andTest };
    },
    onMutate: () => {
      setServerProblems([]);
      setFailure(null);
    },
    onSuccess: async ({ connector, andTest }) => {
      await queryClient.invalidateQueries({ queryKey: [org.slug, 'connectors'] });
      navigate(`/connectors/${connector.id}${andTest ? '?test=1' : ''}`);
    },
    onError: handleError,
  });

  const problems = summarise(form.formState.errors, fields, serverProblems);
  const busy = test.isPending || save.isPending;
  const nameError = form.formState.errors[META_NAME];
  const intervalError = form.formState.errors[META_INTERVAL];

  return (
    <form noValidate onSubmit={form.handleSubmit((values) => save.mutate({ values, andTest: false }))} aria-label={`New ${provider} connector`}>
      <FormErrorSummary problems={problems} />
      {failure ? <Alert>{failure}</Alert> : null}
      <div className="mb-4 grid max-w-2xl gap-4 md:grid-cols-2">
        <div>
          <label htmlFor={fieldId(META_NAME)} className="block text-sm font-medium">
            Name
          </label>
          <input id={fieldId(META_NAME)} {...form.register(META_NAME)} autoComplete="off" aria-invalid={nameError ? true : undefined} aria-describedby={nameError ? `${fieldId(META_NAME)}-error` : undefined} className={inputClass} />
          {nameError ? (
            <p id={`${fieldId(META_NAME)}-error`} className="mt-1 text-sm font-medium text-red-800">
              {String(nameError.message)}
            </p>
          ) : null}
        </div>
        <div>
          <label htmlFor={fieldId(META_INTERVAL)} className="block text-sm font-medium">
            Check interval (s)
          </label>
          <input id={fieldId(META_INTERVAL)} inputMode="numeric" {...form.register(META_INTERVAL)} aria-invalid={intervalError ? true : undefined} aria-describedby={intervalError ? `${fieldId(META_INTERVAL)}-error` : undefined} className={inputClass} />
          {intervalError ? (
            <p id={`${fieldId(META_INTERVAL)}-error`} className="mt-1 text-sm font-medium text-red-800">
              {String(intervalError.message)}
            </p>
          ) : null}
        </div>
      </div>
      <ConfigFields form={form} fields={fields} secrets={{}} setSecret={() => undefined} />
      <TestResultRegion result={result?.result ?? null} at={result?.at ?? null} pending={test.isPending} />
      <div className="flex gap-2">
        <Button
          disabled={busy}
          onClick={async () => {
            // The name and interval do not matter to a test: only the config's fields are checked.
            if (await form.trigger(fields.map((f) => f.name), { shouldFocus: true })) test.mutate(form.getValues());
          }}
        >
          Test connection
        </Button>
        <Button type="submit" variant="primary" disabled={busy}>
          Save
        </Button>
        <Button disabled={busy} onClick={form.handleSubmit((values) => save.mutate({ values, andTest: true }))}>
          Save and test
        </Button>
      </div>
    </form>
  );
}
