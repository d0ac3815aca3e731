import { describe, expect, it } from "vitest";
import { KubeconfigFileError, MAX_KUBECONFIG_BYTES, readKubeconfigFile, summarizeKubeconfig } from "./kubeconfig";
import { providerHealth, providerState } from "./health";
import { PROVIDER_DEFAULTS, providerSchema, splitTags, toProviderCreate } from "./providerForm";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: LS0t
    server: https://127.0.0.1:6443
  name: sim
contexts:
- context: {cluster: sim, user: admin}
  name: sim
current-context: sim
users:
- name: admin
  user: {token: abc}
`;

describe("readKubeconfigFile", () => {
  it("reads the text of the file", async () => {
    const file = new File([KUBECONFIG], "sim.kubeconfig", { type: "text/plain" });
    await expect(readKubeconfigFile(file)).resolves.toBe(KUBECONFIG);
  });

  it("refuses empty, binary and oversized files with the file's name", async () => {
    await expect(readKubeconfigFile(new File([""], "empty.yaml"))).rejects.toThrow("“empty.yaml” is empty.");
    await expect(readKubeconfigFile(new File(["a\u0000b"], "bin"))).rejects.toThrow("not a text file");
    const big = new File(["x".repeat(MAX_KUBECONFIG_BYTES + 1)], "big.yaml");
    await expect(readKubeconfigFile(big)).rejects.toBeInstanceOf(KubeconfigFileError);
    await expect(readKubeconfigFile(new File(["  \n"], "blank.yaml"))).rejects.toThrow("is empty");
  });
});

describe("summarizeKubeconfig", () => {
  it("finds the servers and the current context", () => {
    expect(summarizeKubeconfig(KUBECONFIG)).toEqual({ servers: ["https://127.0.0.1:6443"], currentContext: "sim", base64: false, insecure: false });
  });

  it("reads base64 of the YAML too", () => {
    const s = summarizeKubeconfig(btoa(KUBECONFIG));
    expect(s?.base64).toBe(true);
    expect(s?.servers).toEqual(["https://127.0.0.1:6443"]);
  });

  it("notices TLS verification switched off, and says nothing about non-kubeconfigs", () => {
    expect(summarizeKubeconfig(KUBECONFIG.replace("certificate-authority-data: LS0t", "insecure-skip-tls-verify: true"))?.insecure).toBe(true);
    expect(summarizeKubeconfig("hello")).toBeNull();
    expect(summarizeKubeconfig("")).toBeNull();
  });
});

describe("provider form", () => {
  const valid = { ...PROVIDER_DEFAULTS, name: "sim-2", region: "eu-west", kubeconfig_content: KUBECONFIG };

  it("accepts a complete form and builds the request without empty optionals", () => {
    const parsed = providerSchema.parse({ ...valid, tags: "ssd, , eu" });
    const body = toProviderCreate(parsed);
    expect(body).toMatchObject({ name: "sim-2", region: "eu-west", tags: ["ssd", "eu"], priority: 100, verify_ssl: true });
    expect(body).not.toHaveProperty("availability_zone");
    expect(body).not.toHaveProperty("domain");
    expect(toProviderCreate({ ...parsed, availability_zone: "eu-west-1a", domain: "acme" })).toMatchObject({ availability_zone: "eu-west-1a", domain: "acme" });
  });

  it("refuses what the API would refuse", () => {
    const errors = (over: object) => providerSchema.safeParse({ ...valid, ...over }).error?.issues.map((i) => i.path.join("."));
    expect(errors({ name: "" })).toEqual(["name"]);
    expect(errors({ region: " eu" })).toEqual(["region"]);
    expect(errors({ cpu_total_cores: 0 })).toEqual(["cpu_total_cores"]);
    expect(errors({ memory_total_gb: Number.NaN })).toEqual(["memory_total_gb"]);
    expect(errors({ storage_reservation_percent: 101 })).toEqual(["storage_reservation_percent"]);
    expect(errors({ priority: 1001 })).toEqual(["priority"]);
    expect(errors({ priority: 1.5 })).toEqual(["priority"]);
    expect(errors({ kubeconfig_content: "   " })).toEqual(["kubeconfig_content"]);
    expect(errors({ tags: "x".repeat(65) })).toEqual(["tags"]);
  });

  it("splits tags on commas", () => {
    expect(splitTags(" a ,b,, c ")).toEqual(["a", "b", "c"]);
  });
});

describe("provider health and state", () => {
  it("is healthy only when connected with KubeDB", () => {
    expect(providerHealth({ connection: { status: "connected", last_checked_at: null }, kubedb: { installed: true, engines: [] } })).toBe("healthy");
    expect(providerHealth({ connection: { status: "connected", last_checked_at: null }, kubedb: { installed: false, engines: [] } })).toBe("degraded");
    expect(providerHealth({ connection: { status: "unreachable", last_checked_at: null }, kubedb: { installed: true, engines: [] } })).toBe("unhealthy");
    expect(providerHealth({ connection: { status: "unknown", last_checked_at: null }, kubedb: { installed: false, engines: [] } })).toBe("unknown");
  });

  it("says whether it takes new databases", () => {
    expect(providerState({ is_active: true, is_maintenance: false })).toBe("active");
    expect(providerState({ is_active: true, is_maintenance: true })).toBe("maintenance");
    expect(providerState({ is_active: false, is_maintenance: true })).toBe("inactive");
  });
});
