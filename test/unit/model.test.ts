import { describe, expect, it } from 'vitest';
import { isAllowedMove, isTerminal, MOVES, TASK_STATUSES, type TaskStatus } from '#lib/model';

describe('the state machine', () => {
  it('allows exactly the moves of the contract, and the move back to NEW of a task whose message was not published', () => {
    const allowed = TASK_STATUSES.flatMap((from) => TASK_STATUSES.filter((to) => isAllowedMove(from, to)).map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual(
      [
        'NEW->PENDING',
        'PENDING->IN_PROGRESS',
        'IN_PROGRESS->COMPLETED',
        'IN_PROGRESS->FAILED',
        'IN_PROGRESS->PENDING',
        'SCHEDULED->PENDING',
        'SCHEDULED->CANCELLED',
        'NEW->CANCELLED',
        'PENDING->CANCELLED',
        'IN_PROGRESS->CANCELLED',
        'FAILED->PENDING',
        'CANCELLED->PENDING',
        'PENDING->NEW',
      ].sort(),
    );
    expect(isAllowedMove(null, 'NEW')).toBe(true);
    expect(isAllowedMove(null, 'SCHEDULED')).toBe(true);
    expect(isAllowedMove(null, 'PENDING')).toBe(false);
    expect(isAllowedMove(null, 'IN_PROGRESS')).toBe(false);
  });

  it('leaves no terminal status by itself: only retry leaves FAILED or CANCELLED', () => {
    const leaving = (s: TaskStatus) => Object.entries(MOVES).filter(([, m]) => (m.from as readonly TaskStatus[]).includes(s));
    expect(leaving('COMPLETED')).toEqual([]);
    expect(leaving('FAILED').map(([name]) => name)).toEqual(['retry']);
    expect(leaving('CANCELLED').map(([name]) => name)).toEqual(['retry']);
  });

  it('lets a SCHEDULED task only be released or cancelled, and nothing move into SCHEDULED', () => {
    const leaving = Object.entries(MOVES).filter(([, m]) => (m.from as readonly TaskStatus[]).includes('SCHEDULED'));
    expect(leaving.map(([name, m]) => `${name}:${m.to}`).sort()).toEqual(['cancel:CANCELLED', 'release:PENDING']);
    expect(TASK_STATUSES.filter((from) => isAllowedMove(from, 'SCHEDULED'))).toEqual([]);
    expect(isTerminal('SCHEDULED')).toBe(false);
  });
});
