// GET /api/v1/versions is described as a free-form object ({<engine>: [{version, name,
// deprecated}]}), so its answer is checked here before use.
import { useQuery } from "@tanstack/react-query";
import { z } from "zod";
import { api } from "./client";
import { unwrap } from "./errors";
import type { Engine } from "./types";

const offered = z.record(
  z.string(),
  z.array(z.object({ version: z.string(), name: z.string(), deprecated: z.boolean() })),
);
export type OfferedVersion = z.infer<typeof offered>[string][number];

/** The versions a new database of `engine` may use, newest first; deprecated ones are never offered. */
export function useOfferedVersions(engine: Engine) {
  return useQuery({
    queryKey: ["versions", engine],
    staleTime: 300_000,
    queryFn: async () => {
      const body = offered.parse(await unwrap(api.GET("/api/v1/versions", { params: { query: { engine } } })));
      return (body[engine] ?? []).filter((v) => !v.deprecated);
    },
  });
}
