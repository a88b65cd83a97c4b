// Paging through a cursor-paginated list (`?cursor=` in, `next_cursor` out): the cursors seen so
// far, so a person can go back as well as on.
import { useState } from 'react';
import { Button } from 'react-aria-components';

export interface CursorPages {
  cursor: string | undefined;
  page: number;
  next(cursor: string): void;
  previous(): void;
  first(): void;
}

export function useCursorPages(): CursorPages {
  const [stack, setStack] = useState<(string | undefined)[]>([undefined]);
  return {
    cursor: stack[stack.length - 1],
    page: stack.length,
    next: (cursor) => setStack((s) => [...s, cursor]),
    previous: () => setStack((s) => (s.length > 1 ? s.slice(0, -1) : s)),
    first: () => setStack([undefined]),
  };
}

export function Pager({ pages, nextCursor, label }: { pages: CursorPages; nextCursor: string | null; label: string }) {
  if (pages.page === 1 && !nextCursor) return null;
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <Button className="button" isDisabled={pages.page === 1} onPress={pages.previous}>
        Previous page
      </Button>
      <span>Page {pages.page}</span>
      <Button className="button" isDisabled={!nextCursor} onPress={() => nextCursor && pages.next(nextCursor)}>
        Next page
      </Button>
    </nav>
  );
}
