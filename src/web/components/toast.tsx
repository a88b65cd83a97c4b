// Short messages about something that happened away from a form (a revoke, a copy, a failure of
// a button's request): errors are announced at once (role=alert) and stay until dismissed; other
// notes are announced politely and go after a while.
import { createContext, type ReactNode, useCallback, useContext, useMemo, useRef, useState } from 'react';
import { Button } from 'react-aria-components';
import { problemMessage } from '../api/client';

interface Toast {
  id: number;
  kind: 'error' | 'success';
  text: string;
}

interface Toasts {
  success(text: string): void;
  error(text: string): void;
  /** A failed request, in the server's words. */
  failure(error: unknown): void;
}

const ToastContext = createContext<Toasts | null>(null);

const SUCCESS_MS = 8000;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const next = useRef(1);
  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);
  const push = useCallback(
    (kind: Toast['kind'], text: string) => {
      const id = next.current++;
      setToasts((list) => [...list.slice(-3), { id, kind, text }]);
      if (kind === 'success') setTimeout(() => dismiss(id), SUCCESS_MS);
    },
    [dismiss],
  );
  const value = useMemo<Toasts>(
    () => ({ success: (t) => push('success', t), error: (t) => push('error', t), failure: (e) => push('error', problemMessage(e)) }),
    [push],
  );
  return (
    <ToastContext.Provider value={value}>
      {children}
      <section className="toasts" aria-label="Notifications">
        {toasts.map((t) => (
          <div key={t.id} className={`toast toast-${t.kind}`} role={t.kind === 'error' ? 'alert' : 'status'}>
            <p>{t.text}</p>
            <Button className="button button-quiet" onPress={() => dismiss(t.id)} aria-label="Dismiss notification">
              ×
            </Button>
          </div>
        ))}
      </section>
    </ToastContext.Provider>
  );
}

export function useToast(): Toasts {
  const toasts = useContext(ToastContext);
  if (!toasts) throw new Error('useToast outside ToastProvider');
  return toasts;
}
