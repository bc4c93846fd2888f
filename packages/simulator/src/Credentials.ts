/** The keys the simulators accept by default; anything else is refused as the real providers would. */
export const credentials = {
  fiber: { apiKey: "sim-fiber-key" },
  crustdata: { apiKey: "sim-crustdata-key" },
  thehog: { accessKey: "ak_sim", secretKey: "sk_sim" }
} as const
