import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { InvalidArgumentError } from "@shoal/domain";
import { DeciderSpecification } from "@shoal/domain/testing";
import { configDecider, configStateAt, decide, evolve, initialState } from "./config-decider";
import type { ConfigCommand, DaemonConfigChanged } from "./config-decider";
import { applyConfigSet, defaultDaemonConfig, parseDaemonConfig } from "./daemon-config";

const spec = DeciderSpecification.for(configDecider);
const now = "2026-01-02T03:04:05.000Z";
const later = "2026-01-02T04:00:00.000Z";

const set = (...assignments: string[]): ConfigCommand => ({ type: "SetConfig", data: { assignments, now } });
const reload = (config: unknown): ConfigCommand => ({ type: "ReloadConfig", data: { config, now } });

const experimentalOn = parseDaemonConfig({ experimental: true });
const changedToExperimental: DaemonConfigChanged = {
  type: "DaemonConfigChanged",
  data: { version: 1, previousVersion: 0, config: experimentalOn, source: "set", changedAt: now },
};

describe("config decider", () => {
  it("a set on the defaults records version 1 with the complete new config", () => {
    spec.given([]).when(set("experimental=true")).then([changedToExperimental]);
  });

  it("each change moves the version by exactly one", () => {
    const shareable = parseDaemonConfig({ experimental: true, "default-ipc-mode": "shareable" });
    spec
      .given([changedToExperimental])
      .when({ type: "SetConfig", data: { assignments: ["default-ipc-mode=shareable"], now: later } })
      .then([
        {
          type: "DaemonConfigChanged",
          data: { version: 2, previousVersion: 1, config: shareable, source: "set", changedAt: later },
        },
      ]);
  });

  it("a reload replaces the whole config: keys left out go back to their defaults", () => {
    const withRuntime = { runtimes: { crun: { path: "/usr/bin/crun" } }, "default-runtime": "crun" };
    spec
      .given([changedToExperimental])
      .when(reload(withRuntime))
      .then([
        {
          type: "DaemonConfigChanged",
          data: { version: 2, previousVersion: 1, config: parseDaemonConfig(withRuntime), source: "reload", changedAt: now },
        },
      ]);
  });

  it("a reload also takes daemon.json text", () => {
    const [event] = decide(reload('{"experimental": true}'), initialState());
    expect(event?.data.config).toEqual(experimentalOn);
  });

  it("a set or reload that changes nothing records nothing", () => {
    spec.given([]).when(set("experimental=false", "default-ipc-mode=private")).thenNothingHappened();
    spec.given([changedToExperimental]).when(set("experimental=true")).thenNothingHappened();
    spec.given([changedToExperimental]).when(reload({ experimental: true })).thenNothingHappened();
    spec.given([]).when(reload({})).thenNothingHappened();
  });

  it("an invalid config is refused whole, with every bad key named, and records nothing", () => {
    spec
      .given([changedToExperimental])
      .when(set("experimental=false", "default-ipc-mode=host", "bogus=1"))
      .thenThrows(InvalidArgumentError, /default-ipc-mode: .*host.*; .*bogus: unknown key|bogus: unknown key.*default-ipc-mode/);
    spec
      .given([changedToExperimental])
      .when(reload({ runtimes: { runc: { path: "/opt/runc" } } }))
      .thenThrows(InvalidArgumentError, /runtimes\.runc/);
    spec.given([]).when(reload("{not json")).thenThrows(InvalidArgumentError, /not valid JSON/);
    spec.given([]).when(reload(["experimental"])).thenThrows(InvalidArgumentError, /must be a JSON object/);
  });

  it("an empty set is a usage error", () => {
    spec.given([]).when(set()).thenThrows(InvalidArgumentError, "config set needs at least one KEY=VALUE");
  });

  it("evolve takes the recorded config and version as they are", () => {
    const state = evolve(initialState(), changedToExperimental);
    expect(state).toEqual({ version: 1, config: experimentalOn });
  });

  it("evolve fills keys an older event did not carry with their defaults", () => {
    const { heartbeatTimeoutMs: _dropped, ...older } = experimentalOn;
    const event = { ...changedToExperimental, data: { ...changedToExperimental.data, config: older } } as DaemonConfigChanged;
    expect(evolve(initialState(), event).config.heartbeatTimeoutMs).toBe(defaultDaemonConfig().heartbeatTimeoutMs);
  });

  it("events survive a JSON round trip unchanged (they are stored as JSON)", () => {
    const events = decide(set('runtimes.k={"path":"/k","runtimeArgs":["a b"]}', "default-shm-size=1g"), initialState());
    expect(JSON.parse(JSON.stringify(events))).toEqual(events);
  });

  it("over any sequence of commands, versions are 1, 2, 3… and the state is the last recorded config", () => {
    const command = fc.oneof(
      fc.constantFrom("experimental=true", "experimental=false", "default-ipc-mode=shareable", "default-ipc-mode=private").map((a) => set(a)),
      fc.constantFrom("default-ipc-mode=host", "experimental=maybe").map((a) => set(a)),
      fc.constantFrom({}, { experimental: true }, { "default-shm-size": "1g" }, { nope: 1 }).map(reload),
    );
    fc.assert(
      fc.property(fc.array(command, { maxLength: 20 }), (commands) => {
        let state = initialState();
        const recorded: DaemonConfigChanged[] = [];
        for (const c of commands) {
          let events: DaemonConfigChanged[];
          try {
            events = decide(c, state);
          } catch (err) {
            expect(err).toBeInstanceOf(InvalidArgumentError);
            continue;
          }
          expect(events.length).toBeLessThanOrEqual(1);
          for (const e of events) {
            expect(e.data.previousVersion).toBe(state.version);
            state = evolve(state, e);
            recorded.push(e);
          }
        }
        expect(recorded.map((e) => e.data.version)).toEqual(recorded.map((_, i) => i + 1));
        expect(state.version).toBe(recorded.length);
        if (recorded.length > 0) expect(state.config).toEqual(recorded.at(-1)!.data.config);
        // Every recorded config differs from the one before it.
        let previous = defaultDaemonConfig();
        for (const e of recorded) {
          expect(e.data.config).not.toEqual(previous);
          previous = e.data.config;
        }
      }),
    );
  });

  it("a set builds on the current config, not on the defaults", () => {
    const state = evolve(initialState(), changedToExperimental);
    const [event] = decide(set("default-shm-size=128m"), state);
    expect(event?.data.config).toEqual(applyConfigSet(experimentalOn, ["default-shm-size=128m"]));
    expect(event?.data.config.experimental).toBe(true);
  });
});

describe("configStateAt: the config a start was requested under", () => {
  it("is that version's config, whatever came after it; the defaults at 0; undefined for a version never recorded", () => {
    const v2 = decide(set("default-ipc-mode=shareable"), evolve(initialState(), changedToExperimental))[0]!;
    const events = [changedToExperimental, v2];
    expect(configStateAt(events, 1)).toEqual({ version: 1, config: experimentalOn });
    expect(configStateAt(events, 2)).toEqual(evolve(evolve(initialState(), changedToExperimental), v2));
    expect(configStateAt(events, 0)).toEqual(initialState());
    expect(configStateAt(events, 3)).toBeUndefined();
  });
});
