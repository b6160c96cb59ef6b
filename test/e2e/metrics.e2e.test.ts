/**
 * Every service's Prometheus `/metrics`, scraped from the running stack after real traffic
 * (a shareable container started and stopped, a refused call), passes `promtool check metrics`:
 * Prometheus's own parser and naming rules (counters end in `_total`, nothing else does,
 * base units, HELP on every family…). Needs `promtool` (Debian's `prometheus` package;
 * `npm test` installs it).
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SERVICES, Status, type E2eStack, type GrpcError, type Service, startStack } from "./stack";

let stack: E2eStack;

/** `promtool check metrics` on `text`: its exit code and what it printed. */
function promtoolCheck(text: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile("promtool", ["check", "metrics"], { encoding: "utf8" }, (err, stdout, stderr) => {
      if ((err as NodeJS.ErrnoException | null)?.code === "ENOENT") {
        return reject(new Error("prerequisite missing: promtool is not installed (apt-get install --no-install-recommends prometheus; `npm test` installs it)"));
      }
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? 1) : 0, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(text);
  });
}

async function scrape(service: Service): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${stack.metricsPort(service)}/metrics`);
  expect(res.status, service).toBe(200);
  return res.text();
}

/** The series the traffic below must have produced, one labelled family per service at least. */
const expectedSeries: Record<Service, RegExp[]> = {
  api: [/^shoal_api_requests_total\{method="Containers\/StartContainer",code="OK"\} [1-9]/m, /^shoal_api_requests_total\{method="Containers\/InspectContainer",code="NOT_FOUND"\} [1-9]/m],
  scheduler: [/^shoal_scheduler_placements_total\{result="placed"\} [1-9]/m],
  "mount-manager": [/^shoal_mount_manager_operations_total\{op="prepare",result="ok"\} [1-9]/m],
  "runtime-agent": [/^shoal_containerd_rpcs_total\{service="Tasks",method="Create"\} [1-9]/m, /^shoal_agent_containers \d+$/m],
};

beforeAll(async () => {
  stack = await startStack();
  const { id } = await stack.call<{ id: string }>("Containers", "CreateContainer", {
    name: "metrics-owner",
    rootfs: stack.rootfs,
    args: ["/bin/true"],
    host_config: { ipc_mode: "shareable" },
  });
  const started = await stack.call<{ failed: boolean; error: string }>("Containers", "StartContainer", { container: id });
  expect(started.failed, started.error).toBe(false);
  await stack.call("Containers", "WaitContainer", { container: id });
  await stack.call("Containers", "RemoveContainer", { container: id, force: true });
  const missing = await stack.call("Containers", "InspectContainer", { container: "no-such-container" }).catch((e: GrpcError) => e);
  expect((missing as GrpcError).code).toBe(Status.NOT_FOUND);
});

afterAll(async () => {
  await stack?.teardown();
});

describe("/metrics of every service", () => {
  it("promtool itself refuses a malformed exposition (so a pass below means something)", async () => {
    const bad = "# HELP shoal_bad_total A gauge named like a counter.\n# TYPE shoal_bad_total gauge\nshoal_bad_total 1\n";
    const r = await promtoolCheck(bad);
    expect(r.code).not.toBe(0);
    expect(r.output).toMatch(/non-counter metrics should not have "_total" suffix/);
  });

  it.each(SERVICES)("%s: after traffic, its labelled series are there and `promtool check metrics` passes", async (service) => {
    const text = await scrape(service);
    for (const series of expectedSeries[service]) expect(text, `${service} lacks ${series}`).toMatch(series);
    const r = await promtoolCheck(text);
    expect(r.output, `promtool check metrics on ${service}'s /metrics`).toBe("");
    expect(r.code).toBe(0);
  });
});
