import { Button } from "./Button";

interface Props {
  page: number;
  pages: number;
  onPage: (page: number) => void;
}

/** Previous/next buttons under a paged table; nothing when everything fits on one page. */
export function Pager({ page, pages, onPage }: Props) {
  if (pages <= 1) return null;
  return (
    <nav className="page-actions" aria-label="Pages">
      <Button disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous page
      </Button>
      <Button disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next page
      </Button>
    </nav>
  );
}
