// Field descriptors shared by the AssemblyScript engine and the TypeScript host.
//
// A field is one number: its lowest bit position inside the structure (bit 0 is
// bit 0 of the first little-endian 64-bit word) plus its width times 1024.
// Both sides decode it with their own accessor (assembly/bits.ts, src/bits.ts),
// so every layout is written once, here and in the sibling files.
//
// This file and its siblings must stay in the subset of TypeScript that
// AssemblyScript also compiles: plain numeric constants, no imports, no types.

/** Multiplier of the width part of a field descriptor. */
export const FIELD_WIDTH_UNIT = 1024;
