import assert from 'node:assert/strict';
import { test } from 'node:test';
import { slug } from '../dist/index.js';

test('slug', () => assert.equal(slug('  Hello, World! '), 'hello-world'));
