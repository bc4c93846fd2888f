/**
 * How the cost model's figures are shown: the order `--order auto` chose with the numbers behind it, and an
 * expected spend with its range (`enrich run`, `enrich estimate`).
 */
import type { CostModel } from "@enrich/core"

const round = (n: number, digits = 2) => Number.isFinite(n) ? n.toFixed(digits) : "∞"
const pct = (n: number) => `${Math.round(100 * n)}%`

/** Where the statistics came from: the ledger's history, or the priors alone. */
export const sourceLine = (observed: number): string =>
  observed > 0
    ? `statistics: ${observed} answers in the ledger, smoothed with the reference priors`
    : "statistics: no answers in the ledger yet, the reference priors alone (wide ranges; a first run teaches them)"

/**
 * The order chosen per identifier kind and, per field, each provider's expected cost per value found: the price
 * of asking under its billing, over the chance of a value the stop policy accepts.
 */
export const choiceLines = (choice: CostModel.OrderChoice): ReadonlyArray<string> => [
  `order auto: ${choice.providers.join(" → ")} (given: ${choice.given.join(" → ")})`,
  ...choice.byKind.flatMap((k) => [
    `  ${k.kind}: ${k.providers.join(" → ")}, expected ${round(k.expectedPerPerson)} credits a person ` +
    `(given order ${round(k.givenPerPerson)})`,
    // with one provider there is no order to explain
    ...(k.providers.length < 2 ? [] : k.fields).map((f) =>
      `    ${f.field.padEnd(15)} ` +
      f.providers.map((p) =>
        `${p.provider} ${round(p.costPerValue)}/value (hit ${pct(p.hitRate)}, found ${pct(p.foundRate)}, ask ` +
        `${round(p.askCost)}${p.observed === 0 ? ", prior" : `, ${p.observed} seen`})`
      ).join(" · ")
    )
  ]),
  `  ${sourceLine(choice.observed)}`
]

/** `expected ~1459 credits (95% range 1302–1617)`. */
export const spendText = (spend: CostModel.Spend): string =>
  `~${Math.round(spend.expected)} credits (95% range ${Math.round(spend.low)}–${Math.round(spend.high)})`
