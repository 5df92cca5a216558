// A tiny library for the example plan to build and test.
export function sum(values) {
  return values.reduce((total, v) => total + v, 0);
}

export function mean(values) {
  if (values.length === 0) throw new RangeError('mean of an empty list');
  return sum(values) / values.length;
}
