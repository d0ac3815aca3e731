// Reading a kubeconfig the admin uploads or pastes, and what the console can tell about it before
// the server probes it (the server stays the judge: it connects and checks KubeDB).

/** The API refuses bodies over 1 MiB; a kubeconfig is a few KiB. */
export const MAX_KUBECONFIG_BYTES = 512 * 1024;

export class KubeconfigFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "KubeconfigFileError";
  }
}

/** A blob's text through FileReader (what every browser, and jsdom, offers). */
function readText(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(typeof reader.result === "string" ? reader.result : "");
    reader.onerror = () => reject(new KubeconfigFileError("The file could not be read."));
    reader.readAsText(blob);
  });
}

/** The text of an uploaded kubeconfig; refuses what cannot be one (too large, binary, empty). */
export async function readKubeconfigFile(file: Blob & { name?: string }): Promise<string> {
  const name = file.name ? `“${file.name}”` : "The file";
  if (file.size === 0) throw new KubeconfigFileError(`${name} is empty.`);
  if (file.size > MAX_KUBECONFIG_BYTES) {
    throw new KubeconfigFileError(`${name} is ${Math.ceil(file.size / 1024)} KiB; a kubeconfig is at most ${MAX_KUBECONFIG_BYTES / 1024} KiB.`);
  }
  const text = await readText(file);
  if (text.includes("\u0000")) throw new KubeconfigFileError(`${name} is not a text file.`);
  if (text.trim() === "") throw new KubeconfigFileError(`${name} is empty.`);
  return text;
}

export interface KubeconfigSummary {
  /** The API servers the file names. */
  servers: string[];
  currentContext: string | null;
  /** True when the text was base64 of YAML (the API accepts both). */
  base64: boolean;
  /** TLS verification switched off in the file itself. */
  insecure: boolean;
}

function decodeBase64(text: string): string | null {
  const compact = text.replace(/\s+/g, "");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) return null;
  try {
    return atob(compact);
  } catch {
    return null;
  }
}

/** What the kubeconfig says at a glance (a line scan, not a YAML parser); null if nothing. */
export function summarizeKubeconfig(text: string): KubeconfigSummary | null {
  if (text.trim() === "") return null;
  const decoded = /\bserver:|\bclusters:/.test(text) ? null : decodeBase64(text);
  const yaml = decoded ?? text;
  const servers = [...yaml.matchAll(/^\s*-?\s*server:\s*["']?([^\s"']+)["']?\s*$/gm)].map((m) => m[1] as string);
  const ctx = /^current-context:\s*["']?([^\s"']+)["']?\s*$/m.exec(yaml)?.[1] ?? null;
  const insecure = /^\s*insecure-skip-tls-verify:\s*true\s*$/m.test(yaml);
  if (servers.length === 0 && ctx === null) return null;
  return { servers, currentContext: ctx, base64: decoded !== null, insecure };
}
