import type { TestResult } from '../api';

/** The outcome of "Test connection", announced politely: success or error_code, message, latency and when. */
export function TestResultRegion({ result, at, pending }: { result: TestResult | null; at: Date | null; pending: boolean }) {
  return (
    <div role="status" aria-live="polite" className="my-4 min-h-6 text-sm" data-testid="test-result">
      {pending ? <p>Testing the connection…</p> : null}
      {!pending && result ? (
        <div className={`rounded border p-3 ${result.success ? 'border-green-700 bg-green-50 text-green-950' : 'border-red-700 bg-red-50 text-red-950'}`}>
          <p className="font-semibold">
            <span aria-hidden="true">{result.success ? '✓ ' : '✕ '}</span>
            {result.success ? 'Connection succeeded' : `Connection failed: ${result.error_code ?? 'error'}`}
          </p>
          <p>{result.message}</p>
          <p>
            Latency {result.latency_ms} ms{at ? `, tested ${at.toLocaleString()}` : ''}
          </p>
        </div>
      ) : null}
    </div>
  );
}
