import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderSdkTypes } from '../../scripts/generate-sdk-types.js';

const root = new URL('../../', import.meta.url);

describe("the SDK's generated types", () => {
  it("match the server's schemas (else run: node --import tsx scripts/generate-sdk-types.ts)", () => {
    for (const [path, expected] of Object.entries(renderSdkTypes())) {
      assert.equal(
        readFileSync(new URL(path, root), 'utf8'),
        expected,
        `${path} is out of date: node --import tsx scripts/generate-sdk-types.ts`,
      );
    }
  });
});
