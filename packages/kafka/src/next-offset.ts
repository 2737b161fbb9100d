/** `offset + 1` in decimal: plain number arithmetic while exact (up to 15 digits), BigInt beyond. */
export function nextOffset(offset: string): string {
  return offset.length < 16 ? String(Number(offset) + 1) : String(BigInt(offset) + 1n);
}
