import { useState, type ReactNode } from "react";
import { Button } from "./Button";
import { Dialog } from "./Dialog";
import { ErrorNotice } from "./ErrorNotice";
import { Field } from "./Field";

interface Props {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  /** When set, the confirm button stays disabled until exactly this text is typed. */
  typeToConfirm?: string;
  onConfirm: () => Promise<unknown>;
}

/** Asks before an action; keeps the dialog open and shows the refusal if the action fails. */
export function ConfirmDialog({ open, onOpenChange, title, children, confirmLabel, danger, typeToConfirm, onConfirm }: Props) {
  const [typed, setTyped] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const change = (next: boolean) => {
    if (!next) {
      setTyped("");
      setError(null);
    }
    onOpenChange(next);
  };
  const confirm = async () => {
    setBusy(true);
    setError(null);
    try {
      await onConfirm();
      change(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const blocked = typeToConfirm !== undefined && typed !== typeToConfirm;
  return (
    <Dialog open={open} onOpenChange={change} title={title}>
      <div className="dialog-body">{children}</div>
      {typeToConfirm !== undefined ? (
        <Field label={`Type ${typeToConfirm} to confirm`}>
          {(p) => <input {...p} value={typed} autoComplete="off" onChange={(e) => setTyped(e.target.value)} />}
        </Field>
      ) : null}
      <ErrorNotice error={error} />
      <div className="dialog-actions">
        <Button onClick={() => change(false)}>Cancel</Button>
        <Button variant={danger ? "danger" : "primary"} busy={busy} disabled={blocked} onClick={() => void confirm()}>
          {confirmLabel}
        </Button>
      </div>
    </Dialog>
  );
}
