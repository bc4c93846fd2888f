/**
 * The built `enrich simulate` as the chaos and rss parts use it: a list of people the simulators know, and the
 * simulators served in a process of their own (so their work is not charged to the client under test).
 */
import { spawn } from "node:child_process"
import { createInterface } from "node:readline"

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
  const child = spawn(process.execPath, [enrich, ...args], { cwd, stdio: ["ignore", "pipe", "inherit"] })
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
