/**
 * The built `enrich simulate` as the chaos and rss parts use it: a list of people the simulators know, and the
 * simulators served in a process of their own (so their work is not charged to the client under test).
 */
import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createInterface } from "node:readline"

/**
 * The node flags the built `enrich` executable's shebang starts it with (`#!/usr/bin/env -S node …`: the young
 * generation's size, which cannot be set at run time; see the worker's `HeapTuning`).
 */
export const shebangFlags = (enrich: string): ReadonlyArray<string> => {
  const first = readFileSync(enrich, "utf8").split("\n", 1)[0] ?? ""
  const flags = /^#!\S*env -S node\b(.*)$/.exec(first)?.[1] ?? ""
  return flags.split(/\s+/).filter((flag) => flag !== "")
}

/** What to give `process.execPath` to start the built `enrich` as its executable starts: its flags, then it. */
export const nodeArgs = (enrich: string, args: ReadonlyArray<string>): Array<string> => [
  ...shebangFlags(enrich),
  enrich,
  ...args
]

/** `enrich simulate` arguments that print a CSV of `people` people of a universe of that size (seeded). */
export const listArgs = (people: number, seed: number): ReadonlyArray<string> => [
  "simulate",
  "--list",
  String(people),
  "--people",
  String(people),
  "--seed",
  String(seed)
]

export interface Served {
  readonly url: string
  /** ends the simulators (SIGTERM) and waits for their process to exit */
  readonly stop: () => Promise<void>
}

/** `enrich simulate` on a free port, with `faults` when given; its base URL once it serves. */
export const serve = async (
  enrich: string,
  options: { readonly people: number; readonly seed: number; readonly timeScale: number; readonly faults?: string },
  cwd: string
): Promise<Served> => {
  const args = [
    "simulate",
    "--port",
    "0",
    "--people",
    String(options.people),
    "--seed",
    String(options.seed),
    "--time-scale",
    String(options.timeScale),
    ...(options.faults === undefined ? [] : ["--faults", options.faults])
  ]
  const child = spawn(process.execPath, nodeArgs(enrich, args), { cwd, stdio: ["ignore", "pipe", "inherit"] })
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.once("line", (line) => {
      const match = /^simulators at (http:\S+)\/fiber,/.exec(line)
      if (match === null) reject(new Error(`enrich simulate said: ${line}`))
      else resolve(match[1]!)
    })
    child.once("exit", (code) => reject(new Error(`enrich simulate exited with ${code}`)))
  })
  const stop = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve()
      child.once("exit", () => resolve())
      child.kill("SIGTERM")
    })
  return { url, stop }
}
