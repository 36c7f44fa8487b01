import { useEffect, useId, useRef, useState, type ButtonHTMLAttributes, type ReactNode } from 'react';
import type { FieldProblem, RecentCheck, Status } from '../api';

const buttonStyles = {
  primary: 'bg-blue-700 text-white hover:bg-blue-800 disabled:bg-slate-400',
  secondary: 'bg-white text-slate-900 border border-slate-400 hover:bg-slate-100 disabled:text-slate-500',
  danger: 'bg-red-700 text-white hover:bg-red-800 disabled:bg-slate-400',
};

export function Button({ variant = 'secondary', className = '', ...props }: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: keyof typeof buttonStyles }) {
  return <button type="button" className={`rounded px-3 py-1.5 text-sm font-medium ${buttonStyles[variant]} ${className}`} {...props} />;
}

const badges: Record<Status, { icon: ReactNode; className: string }> = {
  healthy: { icon: <polyline points="3,8.5 6.5,12 13,4.5" />, className: 'bg-green-100 text-green-900 border-green-700' },
  failing: { icon: <path d="M4 4 L12 12 M12 4 L4 12" />, className: 'bg-red-100 text-red-900 border-red-700' },
  untested: { icon: <path d="M5.5 6 A2.5 2.5 0 1 1 8 8.5 V10 M8 12.5 V13" />, className: 'bg-slate-100 text-slate-900 border-slate-600' },
  disabled: { icon: <><circle cx="8" cy="8" r="5.5" /><path d="M4.2 11.8 L11.8 4.2" /></>, className: 'bg-amber-100 text-amber-950 border-amber-700' },
};

/** Status by icon and word, never by colour alone. */
export function StatusBadge({ status }: { status: Status }) {
  const badge = badges[status];
  return (
    <span className={`inline-flex items-center gap-1 rounded border px-2 py-0.5 text-xs font-semibold ${badge.className}`} data-status={status}>
      <svg width="12" height="12" viewBox="0 0 16 16" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" aria-hidden="true" focusable="false" data-icon={status}>
        {badge.icon}
      </svg>
      {status}
    </span>
  );
}

/** The latest checks' latencies as a small line, failures as red marks, with a text summary for screen readers. */
export function Sparkline({ checks }: { checks: RecentCheck[] }) {
  if (checks.length === 0) return <span className="text-xs text-slate-600">no checks yet</span>;
  const width = 100;
  const height = 24;
  const max = Math.max(...checks.map((c) => c.latency_ms), 1);
  const step = checks.length > 1 ? width / (checks.length - 1) : 0;
  const points = checks.map((c, i) => `${(i * step).toFixed(1)},${(height - 2 - (c.latency_ms / max) * (height - 4)).toFixed(1)}`).join(' ');
  const failures = checks.filter((c) => !c.success).length;
  const latencies = checks.filter((c) => c.success).map((c) => c.latency_ms);
  const summary =
    `${checks.length} recent checks, ${failures} failed` +
    (latencies.length ? `, latency ${Math.min(...latencies)} to ${Math.max(...latencies)} ms` : '');
  return (
    <span className="inline-flex items-center gap-2">
      <svg width={width} height={height} viewBox={`0 0 ${width} ${height}`} aria-hidden="true" focusable="false">
        <polyline points={points} fill="none" stroke="#1d4ed8" strokeWidth="1.5" />
        {checks.map((c, i) =>
          c.success ? null : <rect key={c.checked_at + i} x={i * step - 1.5} y={height - 6} width="3" height="6" fill="#b91c1c" />,
        )}
      </svg>
      <span className="sr-only">{summary}</span>
    </span>
  );
}

/** A modal dialog on the native element: focus stays inside, Escape closes, focus returns where it was. */
export function Dialog({ open, title, onClose, children }: { open: boolean; title: string; onClose: () => void; children: ReactNode }) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onClose={onClose}
      className="m-auto w-full max-w-lg rounded-lg border border-slate-300 bg-white p-6 text-slate-900 shadow-xl"
    >
      {open ? (
        <>
          <h2 id={titleId} className="mb-4 text-lg font-semibold">
            {title}
          </h2>
          {children}
        </>
      ) : null}
    </dialog>
  );
}

/**
 * A new token or key, shown once: it lives only in this component's state and is gone when the dialog closes
 * (never in the query cache or storage).
 */
export function SecretOnce({ title, secret, onClose }: { title: string; secret: string | null; onClose: () => void }) {
  const [copied, setCopied] = useState<string>('');
  const inputId = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret ?? '');
      setCopied('Copied.');
    } catch {
      setCopied('Copying was not allowed: select the text and copy it.');
    }
  };
  return (
    <Dialog open={secret !== null} title={title} onClose={() => { setCopied(''); onClose(); }}>
      <p className="mb-2 text-sm">It is shown only now: store it somewhere safe.</p>
      <label htmlFor={inputId} className="block text-sm font-medium">
        Value
      </label>
      <input id={inputId} readOnly value={secret ?? ''} className="mb-3 w-full rounded border border-slate-400 px-2 py-1 font-mono text-sm" />
      <div className="flex items-center gap-2">
        <Button variant="primary" onClick={copy}>
          Copy
        </Button>
        <form method="dialog">
          <Button type="submit">Close</Button>
        </form>
        <span role="status" className="text-sm">
          {copied}
        </span>
      </div>
    </Dialog>
  );
}

/** Every field error, above the form, each linking to its field. */
export function ErrorSummary({ problems, fieldId }: { problems: FieldProblem[]; fieldId: (path: string) => string | undefined }) {
  if (problems.length === 0) return null;
  return (
    <div role="alert" className="mb-4 rounded border border-red-700 bg-red-50 p-3 text-sm text-red-900">
      <p className="font-semibold">Please correct {problems.length === 1 ? 'this field' : `these ${problems.length} fields`}:</p>
      <ul className="list-disc pl-5">
        {problems.map((problem) => {
          const id = fieldId(problem.path);
          return <li key={problem.path + problem.message}>{id ? <a href={`#${id}`} className="underline">{`${problem.path}: ${problem.message}`}</a> : `${problem.path}: ${problem.message}`}</li>;
        })}
      </ul>
    </div>
  );
}

export function Alert({ children }: { children: ReactNode }) {
  return (
    <p role="alert" className="mb-4 rounded border border-red-700 bg-red-50 p-3 text-sm text-red-900">
      {children}
    </p>
  );
}

export const when = (iso: string | null | undefined) => (iso ? new Date(iso).toLocaleString() : 'never');

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-4 flex items-center justify-between gap-4">
      <h1 className="text-2xl font-semibold">{children}</h1>
      <div className="flex gap-2">{actions}</div>
    </div>
  );
}

export const inputClass = 'w-full rounded border border-slate-500 bg-white px-2 py-1 text-sm';
export const tableClass = 'w-full border-collapse text-left text-sm [&_td]:border-t [&_td]:border-slate-200 [&_td]:px-2 [&_td]:py-2 [&_th]:px-2 [&_th]:py-2';

/** A destructive action behind a confirmation dialog. */
export function ConfirmButton({ label, title, message, confirmLabel, onConfirm, busy = false }: { label: string; title: string; message: string; confirmLabel: string; onConfirm: () => void; busy?: boolean }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <Button variant="danger" onClick={() => setOpen(true)} aria-label={label}>
        {label.split(' ')[0]}
      </Button>
      <Dialog open={open} title={title} onClose={() => setOpen(false)}>
        <p className="mb-4 text-sm">{message}</p>
        <div className="flex gap-2">
          <Button variant="danger" disabled={busy} onClick={() => { setOpen(false); onConfirm(); }}>
            {confirmLabel}
          </Button>
          <Button onClick={() => setOpen(false)}>Cancel</Button>
        </div>
      </Dialog>
    </>
  );
}
