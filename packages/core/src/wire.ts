/**
 * The providers' wire schemas: request and response bodies exactly as each provider's documentation describes
 * them. Programs use the clients and adapters of `@enrich/core`; the simulators and tests that speak the
 * providers' own language import these from `@enrich/core/wire`.
 *
 * @since 0.1.0
 */

/** @since 0.1.0 */
export * as CrustdataApi from "./CrustdataApi.js"
/** @since 0.1.0 */
export * as FiberAiApi from "./FiberAiApi.js"
/** @since 0.1.0 */
export * as TheHogApi from "./TheHogApi.js"
