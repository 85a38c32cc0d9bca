import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/** A dialog over the page; Escape and the backdrop close it. */
export function Modal(props: {
  title: string;
  onClose: () => void;
  children: ComponentChildren;
  wide?: boolean;
  footer?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d || d.open) return;
    d.showModal();
    // The dialog would focus its close button; the first field is where a person starts typing.
    d.querySelector<HTMLElement>('.modal-content :is(input, select, textarea)')?.focus();
  }, []);
  return (
    // A click on the backdrop closes the dialog; the keyboard's way is Escape, handled by onCancel.
    // biome-ignore lint/a11y/useKeyWithClickEvents: Escape is the keyboard equivalent
    <dialog
      ref={ref}
      class={props.wide ? 'modal wide' : 'modal'}
      aria-label={props.title}
      onCancel={(e) => {
        e.preventDefault();
        props.onClose();
      }}
      onClick={(e) => {
        if (e.target === ref.current) props.onClose();
      }}
    >
      <div class="modal-body">
        <header class="modal-header">
          <h2>{props.title}</h2>
          <button type="button" class="icon-button" aria-label="Close" onClick={props.onClose}>
            ×
          </button>
        </header>
        <div class="modal-content">{props.children}</div>
        {props.footer && <footer class="modal-footer">{props.footer}</footer>}
      </div>
    </dialog>
  );
}
