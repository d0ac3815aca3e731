import { useState } from "react";
import { Button } from "../../../components/Button";

/** Copies a secret or code; says whether it worked (clipboard access can be refused). */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState("copied");
    } catch {
      setState("failed");
    }
  };
  return (
    <>
      <Button onClick={() => void copy()}>{label}</Button>
      <span role="status" className="muted">
        {state === "copied" ? "Copied to the clipboard." : state === "failed" ? "Copying was refused; select the text and copy it." : ""}
      </span>
    </>
  );
}
