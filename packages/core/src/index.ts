/** @since 0.1.0 */
export * as Backoff from "./Backoff.js"
/** @since 0.1.0 */
export * as Contact from "./Contact.js"
/** @since 0.1.0 */
export * as ContactProvider from "./ContactProvider.js"
/** @since 0.1.0 */
export * as EnrichmentError from "./EnrichmentError.js"
/** @since 0.1.0 */
export * as Identifier from "./Identifier.js"
/** @since 0.1.0 */
export * as PersonResult from "./PersonResult.js"
/** @since 0.1.0 */
export * as ProviderMetrics from "./ProviderMetrics.js"
/** @since 0.1.0 */
export * as Polling from "./Polling.js"
/** @since 0.1.0 */
export * as RateLimits from "./RateLimits.js"
/** @since 0.1.0 */
export * as RateLimitStore from "./RateLimitStore.js"
/** @since 0.1.0 */
export * as Journal from "./Journal.js"
/** @since 0.1.0 */
export * as Budget from "./Budget.js"
/** @since 0.1.0 */
export * as Merge from "./Merge.js"
/** @since 0.1.0 */
export * as ChunkPlan from "./ChunkPlan.js"
/** @since 0.1.0 */
export * as Route from "./Route.js"
/** @since 0.1.0 */
export * as Waterfall from "./Waterfall.js"
/** @since 0.1.0 */
export * as CostModel from "./CostModel.js"
/** @since 0.1.0 */
export * as TheHogClient from "./TheHogClient.js"
/** @since 0.1.0 */
export * as TheHogProvider from "./TheHogProvider.js"
/** @since 0.1.0 */
export * as CrustdataClient from "./CrustdataClient.js"
/** @since 0.1.0 */
export * as CrustdataProvider from "./CrustdataProvider.js"
/** @since 0.1.0 */
export * as FiberAiClient from "./FiberAiClient.js"
/** @since 0.1.0 */
export * as FiberAiProvider from "./FiberAiProvider.js"
