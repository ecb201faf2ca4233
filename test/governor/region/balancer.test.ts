import { describe, expect, it } from 'vitest';
import { pickLeastOutstanding } from '../../../governor/region/balancer.js';

const ids = (picks: Array<{ id: string } | undefined>) => picks.map((p) => p?.id);

describe('pickLeastOutstanding', () => {
  it('picks the backend with the fewest outstanding requests wherever the cursor is', () => {
    const list = [
      { id: 'a', outstanding: 3 },
      { id: 'b', outstanding: 1 },
      { id: 'c', outstanding: 2 },
    ];
    expect(ids([0, 1, 2, 3, 7].map((cursor) => pickLeastOutstanding(list, cursor)))).toEqual(['b', 'b', 'b', 'b', 'b']);
  });

  it('takes equal backends in turn as the cursor advances', () => {
    const list = [
      { id: 'a', outstanding: 0 },
      { id: 'b', outstanding: 5 },
      { id: 'c', outstanding: 0 },
    ];
    expect(ids([0, 1, 2, 3, 4].map((cursor) => pickLeastOutstanding(list, cursor)))).toEqual(['a', 'c', 'c', 'a', 'c']);
  });

  it('returns undefined for no candidates', () => {
    expect(pickLeastOutstanding([], 4)).toBeUndefined();
  });
});
