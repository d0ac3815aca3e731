// Small formatting helpers shared by the admin pages.

/** A number without float noise: whole numbers as they are, others to one decimal. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return "–";
  return Number.isInteger(n) ? String(n) : n.toFixed(1);
}

/** A timestamp in the reader's locale, or a dash. */
export function when(iso: string | null | undefined): string {
  if (!iso) return "–";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** "1 thing" / "2 things". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
