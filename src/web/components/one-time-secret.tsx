// A secret the server shows once (an API key, an invitation link, recovery codes): shown in a
// read-only box to select or copy, with a plain warning that it will not be shown again.
import { useState } from 'react';
import { Button } from 'react-aria-components';

export function OneTimeSecret({ label, value, note }: { label: string; value: string; note: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <section className="secret" aria-label={label}>
      <p className="secret-label">{label}</p>
      <pre className="secret-value" data-secret>
        {value}
      </pre>
      <p className="secret-note">{note}</p>
      <Button className="button" onPress={copy}>
        {copied ? 'Copied' : 'Copy'}
      </Button>
      <span className="visually-hidden" role="status">
        {copied ? 'Copied to the clipboard' : ''}
      </span>
    </section>
  );
}
