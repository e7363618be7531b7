/** One sample's figures, by metric key. */
export type SampleValues = Readonly<Record<string, number>>;
