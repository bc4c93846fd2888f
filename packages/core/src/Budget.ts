/**
 * A hard credit cap for a run: every spend is reserved (at the provider's worst case) before it is sent,
 * and settled from what the provider actually charged afterwards, so the cap is never exceeded.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Ref from "effect/Ref"

/** @since 0.1.0 @category Models */
export interface BudgetSnapshot {
  readonly limit: number | undefined
  readonly reserved: number
  readonly spent: number
}

/** @since 0.1.0 @category Models */
export interface BudgetService {
  /** how many of `units` (each costing at most `unitCost`) fit now; reserves them */
  readonly reserveUpTo: (units: number, unitCost: number) => Effect.Effect<number>
  /** takes a reservation made before (e.g. by a run that is being resumed) into account */
  readonly adopt: (reserved: number, spent: number) => Effect.Effect<void>
  /** releases `reserved` and records `spent` */
  readonly settle: (reserved: number, spent: number) => Effect.Effect<void>
  readonly snapshot: Effect.Effect<BudgetSnapshot>
}

/** @since 0.1.0 @category Context */
export class Budget extends Context.Tag("@enrich/core/Budget")<Budget, BudgetService>() {}

/** @since 0.1.0 @category Constructors */
export const make = (limit: number | undefined): Effect.Effect<BudgetService> =>
  Effect.map(Ref.make({ reserved: 0, spent: 0 }), (state) => ({
    reserveUpTo: (units, unitCost) =>
      Ref.modify(state, (s) => {
        const free = limit === undefined ? Infinity : limit - s.reserved - s.spent
        const fits = unitCost <= 0 ? units : Math.max(0, Math.min(units, Math.floor(free / unitCost)))
        return [fits, { ...s, reserved: s.reserved + fits * unitCost }]
      }),
    adopt: (reserved, spent) => Ref.update(state, (s) => ({ reserved: s.reserved + reserved, spent: s.spent + spent })),
    settle: (reserved, spent) =>
      Ref.update(state, (s) => ({ reserved: Math.max(0, s.reserved - reserved), spent: s.spent + spent })),
    snapshot: Effect.map(Ref.get(state), (s) => ({ limit, ...s }))
  }))

/** @since 0.1.0 @category Layers */
export const layer = (limit: number | undefined): Layer.Layer<Budget> => Layer.effect(Budget, make(limit))
