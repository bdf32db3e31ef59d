// Tables of fixed size, allocated once at start-up (and RAM regions at configuration),
// above the static data. Nothing is freed; after configuration the memory never grows.

let top: usize = 0;

/** Zeroed block of `size` bytes aligned to `align`, or 0 when memory cannot grow. */
export function halloc(size: usize, align: usize = 16): usize {
  if (top == 0) top = (__heap_base + 15) & ~<usize>15;
  const p = (top + align - 1) & ~(align - 1);
  const end = p + size;
  if (end < p) return 0;
  const have = <usize>memory.size() << 16;
  if (end > have) {
    const need = <i32>((end - have + 0xffff) >> 16);
    if (memory.grow(need) < 0) return 0;
  }
  top = end; // fresh pages are zero and nothing is ever reused
  return p;
}

/** First address not yet handed out. */
export function heapTop(): usize {
  return top;
}
