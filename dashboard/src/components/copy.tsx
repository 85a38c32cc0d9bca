import { useState } from 'preact/hooks';

/** A button that copies `text` and says so for a moment. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  return (
    <button
      type="button"
      class="link-button"
      title={`Copy ${text}`}
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
          setCopied(true);
          window.setTimeout(() => setCopied(false), 1_500);
        } catch {}
      }}
    >
      {copied ? 'Copied' : label}
    </button>
  );
}
