import type { ButtonHTMLAttributes } from "react";

interface Props extends ButtonHTMLAttributes<HTMLButtonElement> {
  variant?: "primary" | "secondary" | "danger" | "link";
  busy?: boolean;
}

/** A button; `busy` disables it and says so to assistive technology. */
export function Button({ variant = "secondary", busy = false, className, disabled, children, type, ...rest }: Props) {
  return (
    <button
      type={type ?? "button"}
      className={`btn btn-${variant}${className ? ` ${className}` : ""}`}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      {...rest}
    >
      {children}
    </button>
  );
}
