import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mean, sum } from '../dist/index.js';

test('sum adds', () => assert.equal(sum([1, 2, 3]), 6));
test('mean averages', () => assert.equal(mean([2, 4]), 3));
test('mean refuses an empty list', () => assert.throws(() => mean([]), RangeError));
