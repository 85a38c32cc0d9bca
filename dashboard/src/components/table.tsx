import type { ComponentChildren } from 'preact';

/** A column sort as the page's address spells it: `created` (ascending) or `-created` (descending). */
export interface Sort {
  key: string;
  dir: 'ascending' | 'descending';
}

export const parseSort = (text: string | null): Sort | undefined =>
  text ? { key: text.replace(/^-/, ''), dir: text.startsWith('-') ? 'descending' : 'ascending' } : undefined;
export const formatSort = (sort: Sort | undefined): string => (sort ? `${sort.dir === 'descending' ? '-' : ''}${sort.key}` : '');

/** The next sort after a click on `key`'s header: ascending, then descending, then the API's own order. */
export function nextSort(sort: Sort | undefined, key: string): Sort | undefined {
  if (sort?.key !== key) return { key, dir: 'ascending' };
  return sort.dir === 'ascending' ? { key, dir: 'descending' } : undefined;
}

type SortValue = string | number | null;

/** The rows in the order of `sort` (stable; nulls last either way), by the column's value in `by`. */
export function sortRows<T>(rows: readonly T[], sort: Sort | undefined, by: Record<string, (row: T) => SortValue>): T[] {
  const value = sort && by[sort.key];
  if (!sort || !value) return [...rows];
  const sign = sort.dir === 'ascending' ? 1 : -1;
  return rows
    .map((row, i) => ({ row, i, v: value(row) }))
    .sort((a, b) => {
      if (a.v === b.v) return a.i - b.i;
      if (a.v === null) return 1;
      if (b.v === null) return -1;
      const c = typeof a.v === 'number' && typeof b.v === 'number' ? a.v - b.v : String(a.v).localeCompare(String(b.v));
      return c * sign || a.i - b.i;
    })
    .map((x) => x.row);
}

/** A column header that sorts its table: a button inside the <th>, with aria-sort on the sorted column. */
export function SortableTh(props: {
  label: string;
  column: string;
  sort: Sort | undefined;
  onSort: (sort: Sort | undefined) => void;
  class?: string;
}) {
  const dir = props.sort?.key === props.column ? props.sort.dir : undefined;
  return (
    <th class={props.class} aria-sort={dir ?? 'none'}>
      <button
        type="button"
        class="sort-button"
        onClick={() => props.onSort(nextSort(props.sort, props.column))}
        title={dir === 'descending' ? 'Back to the default order' : `Sort by ${props.label.toLowerCase()}`}
      >
        {props.label}
        <span class="sort-mark" aria-hidden="true">
          {dir === 'ascending' ? '▲' : dir === 'descending' ? '▼' : '↕'}
        </span>
      </button>
    </th>
  );
}

/** A table that scrolls sideways inside itself on a narrow screen instead of widening the page. */
export function TableWrap({ children, label }: { children: ComponentChildren; label: string }) {
  return (
    // A focusable region, so that a keyboard can scroll it too (axe's scrollable-region-focusable).
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrollable region must be reachable by keyboard
    <section class="table-wrap" aria-label={label} tabIndex={0}>
      {children}
    </section>
  );
}
