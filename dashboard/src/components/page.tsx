import type { ComponentChildren } from 'preact';

/** The heading of a page of the dashboard (its one <h1>), with an optional line under it and actions on the right. */
export function PageHeader(props: { title: string; sub?: ComponentChildren; children?: ComponentChildren }) {
  return (
    <header class="page-head">
      <div>
        <h1>{props.title}</h1>
        {props.sub && <p class="muted page-sub">{props.sub}</p>}
      </div>
      {props.children && <div class="page-actions">{props.children}</div>}
    </header>
  );
}
