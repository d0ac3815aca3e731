import { Button } from "../../../components/Button";
import { ErrorNotice } from "../../../components/ErrorNotice";

/** The end of a details form: why it was not saved, or that it was, and its submit button. */
export function SaveDetails({ error, saved, busy }: { error: unknown; saved: boolean; busy: boolean }) {
  return (
    <>
      <ErrorNotice error={error} title="Not saved" />
      {saved && !error ? (
        <p className="notice notice-info" role="status">
          Saved.
        </p>
      ) : null}
      <Button type="submit" variant="primary" busy={busy}>
        Save details
      </Button>
    </>
  );
}
