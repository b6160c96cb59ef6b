import { defineConfig } from "vitest/config";

// Three tiers, chosen by file name (STYLE.md habit 10):
//   *.unit.test.ts  pure logic, no I/O, beside the code
//   *.int.test.ts   real Postgres, NATS JetStream, containerd, mounts
//   *.e2e.test.ts   the services started and called over gRPC or the CLI
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["packages/*/src/**/*.unit.test.ts", "services/*/src/**/*.unit.test.ts"],
        },
      },
      {
        test: {
          name: "int",
          include: ["packages/*/src/**/*.int.test.ts", "services/*/src/**/*.int.test.ts", "test/int/**/*.int.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Integration files share one machine's containerd and mounts; run them one file at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["services/*/src/**/*.e2e.test.ts", "test/e2e/**/*.e2e.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
