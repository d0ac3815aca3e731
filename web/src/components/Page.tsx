import { useEffect, type ReactNode } from "react";

interface Props {
  title: string;
  /** Shown above the title (a breadcrumb or scope line). */
  context?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
}

/** A page: its title is the document's title and its only h1. */
export function Page({ title, context, actions, children }: Props) {
  useEffect(() => {
    document.title = `${title} · kubedb-dbaas`;
  }, [title]);
  return (
    <section className="page" aria-labelledby="page-title">
      <div className="page-head">
        <div>
          {context ? <div className="page-context">{context}</div> : null}
          <h1 id="page-title">{title}</h1>
        </div>
        {actions ? <div className="page-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}
